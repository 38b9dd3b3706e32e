"""Dangerous files and upload-filter bypasses, judged by name and by content type."""
from __future__ import annotations

import re

from scanners.engines.base import FileEngine, ScannedFile
from scanners.engines.registry import register
from scanners.findings import Finding, Severity

# Extensions Apache or PHP-FPM commonly hand to the PHP interpreter besides ".php".
PHP_ALT_EXTENSIONS = {"phtml", "pht", "phar", "php3", "php4", "php5", "php6", "php7", "php8",
                      "phps", "pgif", "phpt", "shtml"}
PHP_EXTENSIONS = PHP_ALT_EXTENSIONS | {"php"}
# Copies of PHP sources that expose code but do not run ("config.php.dist").
SOURCE_COPY_SUFFIXES = {"dist", "example", "sample", "bak", "old", "orig", "txt", "swp", "save",
                        "tmp", "copy", "backup", "default", "tpl", "template", "new", "md"}
# Files that must never hold PHP code: a PHP tag in them is a webshell waiting for an include.
INERT_EXTENSIONS = {
    "jpg", "jpeg", "png", "gif", "bmp", "ico", "webp", "tif", "tiff", "svg", "psd", "heic",
    "mp3", "mp4", "avi", "mov", "wav", "ogg", "webm", "mkv", "flv",
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "rtf",
    "ttf", "otf", "woff", "woff2", "eot", "zip", "rar", "7z", "gz", "tar",
    "txt", "log", "css", "csv", "json", "xml", "mo", "po",
}
_TEXT_EXTENSIONS = {"txt", "log", "css", "csv", "json", "xml", "po"}
IMAGE_EXTENSIONS = {"jpg", "jpeg", "png", "gif", "bmp", "ico", "webp", "tif", "tiff", "svg", "heic"}
WINDOWS_EXECUTABLE_EXTENSIONS = {"exe", "dll", "scr", "msi", "com", "pif", "cpl", "sys"}

_PHP_OPEN = re.compile(rb"<\?php\b|<\?=\s*[$@\w(]|<script\s+language\s*=\s*['\"]?php", re.I)
_PHP_SINK = re.compile(
    rb"(?:eval|assert|system|shell_exec|passthru|exec|popen|proc_open|base64_decode|gzinflate"
    rb"|str_rot13|create_function|move_uploaded_file|file_put_contents)\s*\(|\$_(?:GET|POST"
    rb"|REQUEST|COOKIE|FILES|SERVER)\b",
    re.I,
)
_HTACCESS_HANDLER = re.compile(
    r"^\s*(AddHandler|AddType|SetHandler|ForceType|AddOutputFilter)\s+(\S+)\s*(.*)$", re.I | re.M
)
_HTACCESS_PREPEND = re.compile(r"^\s*php_(?:value|admin_value)\s+auto_(?:prepend|append)_file\s+"
                               r"(\S+)", re.I | re.M)
_HTACCESS_CGI = re.compile(r"^\s*Options\s+[^\n]*\+?ExecCGI|^\s*Action\s+\S+", re.I | re.M)
_HTACCESS_INCLUDES = re.compile(r"^\s*Options\s+[^\n]*\+?Includes\b", re.I | re.M)
_HTACCESS_FILES = re.compile(r"<Files(?:Match)?\s+([^>]*)>(.*?)</Files(?:Match)?>", re.I | re.S)
_INI_PREPEND = re.compile(r"^\s*auto_(?:prepend|append)_file\s*=\s*(\S+)", re.I | re.M)
_INI_URL_INCLUDE = re.compile(r"^\s*allow_url_include\s*=\s*['\"]?(?:on|1|true)", re.I | re.M)
_PHP_HANDLER = re.compile(r"php|x-httpd|proxy:(?:unix|fcgi)", re.I)
_CGI_HANDLER = re.compile(r"cgi-script|server-parsed|text/x-server-parsed", re.I)


@register
class FileTypeEngine(FileEngine):
    """Finds executables, PHP under other extensions, handler tricks and PHP hidden in media."""

    name = "filetypes"
    checks_every_kind = True

    def check(self, item: ScannedFile) -> list[Finding]:
        findings: list[Finding] = []
        findings.extend(self._name(item))
        findings.extend(self._content_type(item))
        if item.kind in ("markup", "text") and b"<!--#exec" in item.data:
            offset = item.data.find(b"<!--#exec")
            findings.append(item.finding(self.name, "ssi_exec", Severity.HIGH,
                                         "Server Side Include menjalankan perintah (<!--#exec)",
                                         offset))
        filename = item.filename
        if filename == ".htaccess" or item.extension == "htaccess":
            findings.extend(self._htaccess(item))
        elif filename in (".user.ini", "php.ini") or item.extension == "ini" and (
            b"auto_prepend_file" in item.data or b"auto_append_file" in item.data
        ):
            findings.extend(self._user_ini(item))
        return findings

    # -- names -------------------------------------------------------------------------------

    def _name(self, item: ScannedFile) -> list[Finding]:
        name = item.entry.name
        lower = name.lower()
        parts = lower.split(".")
        extension = item.extension
        if name != name.rstrip(". ") and any(p.rstrip(". ") in PHP_EXTENSIONS for p in parts[1:]):
            return [self._finding(item, "trailing_dot_extension", Severity.HIGH,
                                  "Nama berkas diakhiri titik/spasi untuk mengelabui filter unggah")]
        if ";" in lower or "%00" in lower or "::$data" in lower:
            if re.search(r"\.(?:php\d?|phtml|phar|pht)(?:;|%00|::\$data)", lower):
                return [self._finding(item, "null_or_semicolon_extension", Severity.HIGH,
                                      "Ekstensi PHP disembunyikan dengan ';', '%00' atau '::$DATA'")]
        middle = [part for part in parts[1:-1] if part in PHP_EXTENSIONS]
        if middle and extension not in PHP_EXTENSIONS:
            if extension in SOURCE_COPY_SUFFIXES:
                return [self._finding(item, "php_source_copy", Severity.LOW,
                                      "Salinan kode PHP (cadangan/contoh) dapat membocorkan kode")]
            severity = Severity.HIGH if extension in INERT_EXTENSIONS else Severity.MEDIUM
            return [self._finding(item, "double_extension", severity,
                                  f"Ekstensi ganda '.{middle[-1]}.{extension}' (celah filter unggah)")]
        if extension in PHP_ALT_EXTENSIONS:
            return [self._finding(item, "php_alt_extension", Severity.MEDIUM,
                                  f"Ekstensi '.{extension}' dapat dijalankan sebagai PHP")]
        if extension in WINDOWS_EXECUTABLE_EXTENSIONS and not item.data.startswith(b"MZ"):
            return [self._finding(item, "windows_executable_name", Severity.MEDIUM,
                                  f"Berkas bernama program Windows (.{extension})")]
        return []

    # -- content types -----------------------------------------------------------------------

    def _content_type(self, item: ScannedFile) -> list[Finding]:
        data = item.data
        head = data[:64]
        findings: list[Finding] = []
        if head.startswith(b"\x7fELF"):
            findings.append(self._finding(item, "executable_elf", Severity.HIGH,
                                          "Program Linux (ELF) di dalam aplikasi web"))
        elif head.startswith(b"MZ") and _is_pe(data):
            findings.append(self._finding(item, "executable_pe", Severity.HIGH,
                                          "Program Windows (PE/EXE/DLL) di dalam aplikasi web"))
        elif head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                          b"\xcf\xfa\xed\xfe"):
            findings.append(self._finding(item, "executable_macho", Severity.HIGH,
                                          "Program macOS (Mach-O) di dalam aplikasi web"))
        extension = item.extension
        if extension in INERT_EXTENSIONS:
            media = extension not in _TEXT_EXTENSIONS
            # The content kind already says whether a PHP tag is there; only then look closer.
            opening = _PHP_OPEN.search(data) if item.kind == "php" else None
            # Documentation quotes PHP; a text file that *is* PHP starts with the tag.
            if opening is not None and (media or not data[: opening.start()].strip(b"\xef\xbb\xbf \t\r\n")):
                sink = _PHP_SINK.search(data, opening.start())
                severity = Severity.CRITICAL if sink and media else (
                    Severity.HIGH if sink or media else Severity.MEDIUM)
                findings.append(item.finding(
                    self.name, "php_in_non_php_file", severity,
                    f"Kode PHP di dalam berkas .{extension} (lolos filter unggah)",
                    opening.start()))
            if extension in IMAGE_EXTENSIONS and head.startswith((b"PK\x03\x04", b"Rar!",
                                                                  b"7z\xbc\xaf")):
                findings.append(self._finding(item, "disguised_archive", Severity.MEDIUM,
                                              "Arsip yang menyamar sebagai gambar"))
        return findings

    # -- server configuration ----------------------------------------------------------------

    def _htaccess(self, item: ScannedFile) -> list[Finding]:
        text = item.data.decode("latin-1")
        findings: list[Finding] = []
        php_only_blocks = []
        for block in _HTACCESS_FILES.finditer(text):
            selector = block.group(1)
            if re.fullmatch(r"""\s*["']?[~^\\.(]*\.?php\$?["']?\s*|\s*["']?\\?\.php\$["']?\s*""",
                            selector, re.I):
                php_only_blocks.append((block.start(2), block.end(2)))
        for handler in _HTACCESS_HANDLER.finditer(text):
            directive, value, rest = handler.group(1), handler.group(2), handler.group(3)
            target = value + " " + rest
            if not (_PHP_HANDLER.search(target) or _CGI_HANDLER.search(target)):
                continue
            extensions = re.findall(r"\.?([A-Za-z0-9]+)", rest) if directive.lower() in (
                "addhandler", "addtype", "addoutputfilter") else []
            inside_php_block = any(a <= handler.start() < b for a, b in php_only_blocks)
            if directive.lower() in ("sethandler", "forcetype") and inside_php_block:
                continue
            if extensions and all(ext.lower() in PHP_EXTENSIONS for ext in extensions):
                findings.append(item.finding(
                    self.name, "htaccess_php_version", Severity.LOW,
                    ".htaccess memilih versi/handler PHP untuk berkas .php", handler.start()))
                continue
            findings.append(item.finding(
                self.name, "htaccess_handler", Severity.HIGH,
                f".htaccess membuat berkas lain dijalankan sebagai PHP/CGI ({directive})",
                handler.start()))
        for prepend in _HTACCESS_PREPEND.finditer(text):
            findings.append(item.finding(
                self.name, "htaccess_auto_prepend", Severity.HIGH,
                f".htaccess menyisipkan berkas ke setiap skrip PHP ({prepend.group(1)})",
                prepend.start()))
        for cgi in _HTACCESS_CGI.finditer(text):
            findings.append(item.finding(self.name, "htaccess_exec_cgi", Severity.HIGH,
                                         ".htaccess mengaktifkan eksekusi CGI", cgi.start()))
        for ssi in _HTACCESS_INCLUDES.finditer(text):
            findings.append(item.finding(self.name, "htaccess_ssi", Severity.MEDIUM,
                                         ".htaccess mengaktifkan Server Side Includes", ssi.start()))
        return findings

    def _user_ini(self, item: ScannedFile) -> list[Finding]:
        text = item.data.decode("latin-1")
        findings = [
            item.finding(self.name, "user_ini_auto_prepend", Severity.HIGH,
                         f"{item.entry.name} menyisipkan berkas ke setiap skrip PHP "
                         f"({match.group(1)})", match.start())
            for match in _INI_PREPEND.finditer(text)
        ]
        findings.extend(
            item.finding(self.name, "user_ini_url_include", Severity.MEDIUM,
                         f"{item.entry.name} mengizinkan include dari URL", match.start())
            for match in _INI_URL_INCLUDE.finditer(text)
        )
        if not findings and item.filename == ".user.ini":
            findings.append(self._finding(item, "user_ini_present", Severity.LOW,
                                          ".user.ini mengubah konfigurasi PHP direktori ini"))
        return findings

    def _finding(self, item: ScannedFile, rule: str, severity: Severity, message: str) -> Finding:
        return item.finding(self.name, rule, severity, message)


def _is_pe(data: bytes) -> bool:
    if len(data) < 0x40:
        return False
    offset = int.from_bytes(data[0x3C:0x40], "little")
    return 0 < offset < len(data) - 4 and data[offset:offset + 4] == b"PE\x00\x00"
