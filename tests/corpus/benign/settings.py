import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = ["layanan.example.go.id"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "layanan"}}
