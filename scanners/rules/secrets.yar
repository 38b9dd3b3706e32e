/*
 * Secrets that must not be shipped inside an application bundle: private keys, cloud credentials,
 * tokens, database dumps. `.env` files are checked by the engine itself (name + content).
 */

rule secret_private_key
{
    meta:
        severity = "high"
        message = "Kunci privat (private key) ikut dalam berkas aplikasi"
    strings:
        $pem = /-----BEGIN (RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----[\r\n]{1,2}[A-Za-z0-9+\/=:\- \r\n]{40}/
        $putty = "PuTTY-User-Key-File-" ascii
    condition:
        any of them
}

rule secret_aws_key
{
    meta:
        severity = "high"
        message = "Kunci akses AWS"
    strings:
        $id = /(AKIA|ASIA)[0-9A-Z]{16}[^0-9A-Za-z]/
        $secret = /aws_?secret_?(access_?)?key['"]?\s*[:=]\s*['"]?[A-Za-z0-9\/+]{40}/ nocase
    condition:
        any of them
}

rule secret_gcp_service_account
{
    meta:
        severity = "high"
        message = "Kredensial akun layanan Google Cloud"
    strings:
        $type = /"type"\s*:\s*"service_account"/
        $key = "\"private_key\"" ascii
    condition:
        $type and $key
}

rule secret_cloud_tokens
{
    meta:
        severity = "high"
        message = "Token API layanan cloud (GitHub, Slack, Stripe, Alibaba Cloud, Azure, SendGrid)"
    strings:
        $github = /gh[pousr]_[A-Za-z0-9]{36}/
        $github2 = /github_pat_[A-Za-z0-9_]{60}/
        $slack = /xox[abprs]-[0-9]{8,13}-[0-9A-Za-z\-]{10,}/
        $stripe = /sk_live_[0-9a-zA-Z]{24}/
        $alibaba = /LTAI[0-9A-Za-z]{12,20}[^0-9A-Za-z]/
        $azure = /AccountKey=[A-Za-z0-9+\/]{80}/
        $sendgrid = /SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}/
        $gitlab = /glpat-[A-Za-z0-9_\-]{20}/
    condition:
        any of them
}

rule secret_telegram_bot_token
{
    meta:
        severity = "medium"
        message = "Token bot Telegram (sering dipakai kit phishing untuk mengirim data curian)"
    strings:
        $tok = /api\.telegram\.org\/bot[0-9]{8,10}:[A-Za-z0-9_\-]{35}/
        $tok2 = /['"][0-9]{8,10}:AA[A-Za-z0-9_\-]{33}['"]/
    condition:
        any of them
}

rule secret_google_api_key
{
    meta:
        severity = "low"
        message = "Kunci API Google (periksa pembatasan kunci)"
    strings:
        $k = /AIza[0-9A-Za-z_\-]{35}/
    condition:
        $k
}
