/*
 * Backdoors that are not PHP: reverse shells and bind shells in Python, Perl, Ruby and shell
 * scripts, and cryptocurrency miners, which compromised web servers often carry.
 */

rule script_reverse_shell_python
{
    meta:
        severity = "critical"
        message = "Reverse shell Python (socket + dup2 + shell)"
    strings:
        $sock = "socket.socket(" ascii
        $dup = /os\.dup2\s*\(\s*\w+\.fileno\(\)/
        $sh1 = /pty\.spawn\s*\(\s*['"]\/bin\/(ba)?sh/
        $sh2 = /subprocess\.(call|Popen|run)\s*\(\s*\[\s*['"]\/bin\/(ba)?sh['"]/
    condition:
        $sock and $dup and any of ($sh*)
}

rule script_reverse_shell_generic
{
    meta:
        severity = "critical"
        message = "Perintah reverse shell (/dev/tcp, nc -e, socat exec)"
    strings:
        $devtcp = /(ba)?sh\s+-i\s*[>&]{1,3}\s*\/dev\/tcp\/[0-9a-zA-Z.\-]+\/[0-9]{2,5}/
        $nc = /\b(nc|ncat|netcat)(\.traditional)?\s+(-[a-z]+\s+)*-e\s+\/bin\/(ba)?sh/
        $socat = /socat\s+[^\n]{0,60}exec:['"]?\/bin\/(ba)?sh/ nocase
        $perl = /socket\s*\(\s*S\s*,\s*PF_INET[^\n]{0,200}\n?[^\n]{0,300}exec\s*\(\s*['"]\/bin\/(ba)?sh/
        $mkfifo = /mkfifo\s+\/tmp\/\w+\s*;\s*(nc|cat)\b/
    condition:
        any of them
}

rule script_crypto_miner
{
    meta:
        severity = "critical"
        message = "Penambang mata uang kripto (xmrig/stratum)"
    strings:
        $stratum = /stratum\+(tcp|ssl):\/\/[A-Za-z0-9.\-]+:[0-9]{2,5}/
        $xmrig1 = "xmrig" nocase
        $xmrig2 = "\"donate-level\"" ascii
        $pool = /(pool\.minexmr|supportxmr|nanopool\.org|moneroocean|c3pool|hashvault\.pro)/ nocase
    condition:
        $stratum or $pool or ($xmrig1 and $xmrig2)
}

rule script_python_exec_decoded
{
    meta:
        severity = "high"
        message = "Kode Python dijalankan dari data tersandi (exec/eval + base64/zlib/marshal)"
    strings:
        $exec = /\b(exec|eval)\s*\(\s*(compile\s*\(\s*)?(base64\.b64decode|zlib\.decompress|marshal\.loads|codecs\.decode|bytes\.fromhex|__import__\s*\(\s*['"](base64|zlib|marshal)['"]\s*\))/
    condition:
        $exec
}

rule script_python_request_exec
{
    meta:
        severity = "critical"
        message = "Input permintaan web dijalankan sebagai kode/perintah Python (backdoor)"
    strings:
        $eval = /\b(eval|exec|os\.system|os\.popen|subprocess\.(call|run|Popen|check_output|getoutput|getstatusoutput))\s*\(\s*(str\s*\(\s*)?(flask\.)?request\.(GET|POST|args|form|values|json|data|cookies|headers|query_params|body)\b/
        $pickle = /(pickle|cPickle|marshal|dill)\.loads?\s*\([^\n]{0,80}request\.(GET|POST|args|form|values|json|data|cookies|headers|body)\b/
    condition:
        any of them
}
