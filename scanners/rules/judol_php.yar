/*
 * Cloaking and redirects written in PHP: different content for search-engine bots, visitors from
 * search engines sent elsewhere. Run over PHP files only. Severities as in judol.yar.
 */

rule judol_cloaking_php
{
    meta:
        severity = "critical"
        message = "Cloaking: konten berbeda untuk bot mesin pencari (user-agent) disertai konten/redirect eksternal"
    strings:
        $ua = "HTTP_USER_AGENT" nocase
        $bot = /(googlebot|bingbot|slurp|yandexbot|baiduspider|duckduckbot|google-inspectiontool|adsbot-google|mediapartners-google|googleother|["'|(]google["'|)]|["'|(]bot["'|)])/ nocase
        $remote = /(file_get_contents|curl_init|curl_exec|readfile|fopen|include|require|fsockopen)\s*\(?\s*(@\s*)?['"]https?:\/\// nocase
        $remote2 = /CURLOPT_URL\s*,\s*['"]https?:\/\// nocase
        $loc = /header\s*\(\s*['"]Location:\s*https?:\/\// nocase
        $referer = "HTTP_REFERER" nocase
    condition:
        $ua and $bot and ($remote or $remote2 or $loc or $referer)
}

rule judol_cloaking_local
{
    meta:
        severity = "high"
        message = "Cloaking: bot/crawler dilayani berkas lain (halaman khusus mesin pencari)"
    strings:
        $ua = "HTTP_USER_AGENT" nocase
        $bot = /(preg_match|stripos|strpos|stristr|strstr)\s*\([^;]{0,120}(googlebot|bot\||\|bot|crawl|spider|slurp|mediapartners)/ nocase
        $serve = /(readfile|include|require|file_get_contents|fpassthru)(_once)?\s*\(?\s*[^;]{0,60}['"][^'"]{1,200}\.(html?|txt|xml)['"]/ nocase
    condition:
        $ua and $bot and $serve and filesize < 1MB
}

rule judol_bot_check
{
    meta:
        severity = "medium"
        message = "Kode membedakan bot mesin pencari dari pengunjung (indikasi cloaking)"
    strings:
        $ua = "HTTP_USER_AGENT" nocase
        $bot = /(googlebot|bingbot|google-inspectiontool|adsbot-google|mediapartners-google)/ nocase
    condition:
        $ua and $bot and filesize < 1MB and extension matches /^(php[0-9]?|phtml|pht|inc)$/
}

rule judol_referer_redirect
{
    meta:
        severity = "high"
        message = "Pengunjung dari mesin pencari dialihkan ke situs lain"
    strings:
        $ref = "HTTP_REFERER" nocase
        $engine = /(google|bing|yahoo|yandex|baidu)\.(com|co\.id)?/ nocase
        $loc = /header\s*\(\s*['"]Location:\s*https?:\/\// nocase
        $jsloc = /(window|document|top)\.location(\.href)?\s*=\s*['"]https?:\/\// nocase
    condition:
        $ref and $engine and ($loc or $jsloc) and filesize < 1MB
}
