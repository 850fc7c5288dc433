#!/usr/bin/env python3
"""gen-corpus.py - write a deterministic corpus of fake secrets for the redactor.

    gen-corpus.py --out DIR [--seed N] [--bulk-mb M]

Every secret is generated from random alphabets at run time; token prefixes
are built by concatenation ("gh" + "p_") so this file itself trips no secret
scanner.  The secrets are planted in env files, JSON, JSONL agent logs (with
a canary in every prompt-like field), YAML, TOML, shell history, HTTP dumps,
stack traces, a NUL-separated environ file, base64 / percent / \\u-escaped
forms, and across a 64 KiB boundary; negatives (UUIDs, digests, public keys,
certificates, token counts, placeholders, prose, code) sit beside them.

DIR/manifest.json lists, for the oracle:
  planted:   {file, line, rule, value, forms}  none may appear in redacted output
  canaries:  {file, value}                      prompt text that must not appear
  negatives: {file, value}                      text that must survive unchanged
  json:      files whose redacted copies must still parse (.jsonl: per line,
             for the lines that parsed before)
With --bulk-mb M it also writes bulk/ with about M MB of mixed workspace
files (same kinds, secrets sprinkled in) for the benchmark.
"""
import argparse
import base64
import json
import os
import random
import string
import urllib.parse

UP = string.ascii_uppercase
LO = string.ascii_lowercase
DIG = string.digits
ALNUM = UP + LO + DIG
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def s(self, alpha, n):
        """n random chars that mix the classes of alpha (so gates see a token)."""
        while True:
            v = "".join(self.r.choice(alpha) for _ in range(n))
            classes = sum(any(c in v for c in cl) for cl in (UP, LO, DIG))
            need = sum(any(c in alpha for c in cl) for cl in (UP, LO, DIG))
            if classes >= min(need, 3) and "example" not in v.lower():
                return v

    def b64url(self, raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def jwt(self, typ="JWT", alg="HS256", extra=None):
        hdr = {"alg": alg, "typ": typ}
        if extra:
            hdr.update(extra)
        claims = {"sub": "user-" + self.s(DIG, 6), "iat": 1700000000 + self.r.randrange(10**7),
                  "jti": self.s(ALNUM, 16)}
        return ".".join([self.b64url(json.dumps(hdr, separators=(",", ":")).encode()),
                         self.b64url(json.dumps(claims, separators=(",", ":")).encode()),
                         self.s(B64URL, 43 if alg == "HS256" else 86)])

    def password(self):
        return self.s(ALNUM, 6) + self.r.choice("!#%^*+~") + self.s(ALNUM, 7)

    def pem_body(self, lines):
        return [self.s(B64, 64) for _ in range(lines)]

    # every supported shape: (rule, value)
    def secrets(self):
        g = self
        out = [
            ("aws-access-key-id", "AK" + "IA" + g.s(UP + "234567", 16)),
            ("aws-access-key-id", "AS" + "IA" + g.s(UP + "234567", 16)),
            ("github-token", "gh" + g.r.choice("pousr") + "_" + g.s(ALNUM, 36)),
            ("github-fine-grained-token", "github" + "_pat_" + g.s(ALNUM, 22) + "_" + g.s(ALNUM, 59)),
            ("gitlab-token", "gl" + "pat-" + g.s(ALNUM + "_-", 20)),
            ("slack-token", "xo" + "x" + g.r.choice("abposr") + "-" + g.s(DIG, 11) + "-" + g.s(DIG, 12) + "-" + g.s(ALNUM, 24)),
            ("stripe-key", "sk" + "_live_" + g.s(ALNUM, 24)),
            ("stripe-key", "rk" + "_live_" + g.s(ALNUM, 24)),
            ("openai-key", "sk" + "-proj-" + g.s(ALNUM + "_-", 48)),
            ("openai-key", "sk" + "-" + g.s(ALNUM, 20) + "T3Blbk" + "FJ" + g.s(ALNUM, 20)),
            ("anthropic-key", "sk" + "-ant-api03-" + g.s(ALNUM + "_-", 93) + "AA"),
            ("google-api-key", "AI" + "za" + g.s(ALNUM + "_-", 35)),
            ("huggingface-token", "hf" + "_" + g.s(UP + LO, 34)),
            ("npm-token", "np" + "m_" + g.s(ALNUM, 36)),
            ("pypi-token", "py" + "pi-" + "AgEIcHlwaS5vcmc" + g.s(ALNUM + "_-", 70)),
            ("vault-token", "hv" + "s." + g.s(ALNUM + "_-", 90)),
            ("vault-token", "hv" + "b." + g.s(ALNUM + "_-", 120)),
            ("digitalocean-token", "do" + "p_v1_" + g.s(HEX, 64)),
            ("sendgrid-key", "S" + "G." + g.s(ALNUM + "_-", 22) + "." + g.s(ALNUM + "_-", 43)),
            ("jwt", g.jwt()),
            ("am-delegation", g.jwt(typ="am-delegation" + "+jwt", alg="EdDSA",
                                    extra={"kid": "SHA256:" + g.s(ALNUM + "+/", 43)})),
            ("age-secret-key", "AGE-" + "SECRET-KEY-1" + g.s(BECH32, 58)),
        ]
        return out


class Corpus:
    def __init__(self, root, seed):
        self.root = root
        self.g = Gen(seed)
        self.files = {}
        self.planted = []
        self.canaries = []
        self.negatives = []
        self.json = []
        self.seed = seed

    def f(self, name):
        if name not in self.files:
            self.files[name] = []
        return name

    def text(self, name):
        return "".join(self.files[name])

    def add(self, name, s):
        self.files[self.f(name)].append(s)

    def plant(self, name, rule, value, s, forms=None):
        """Append s (which holds value, or one of forms) to file name."""
        cur = self.text(name) if name in self.files else ""
        probe = value if value in s else (forms[0] if forms else value)
        idx = s.find(probe)
        line = cur.count("\n") + s[:max(idx, 0)].count("\n") + 1
        self.planted.append({"file": name, "line": line, "rule": rule, "value": value,
                             "forms": forms or []})
        self.add(name, s)

    def neg(self, name, value, s=None):
        self.negatives.append({"file": name, "value": value})
        self.add(name, s if s is not None else value + "\n")

    def canary(self, name):
        v = "CANARY-" + self.g.s(HEX, 12)
        self.canaries.append({"file": name, "value": v})
        return v

    def write(self):
        for name, parts in self.files.items():
            path = os.path.join(self.root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write("".join(parts))
        man = {"seed": self.seed, "planted": self.planted, "canaries": self.canaries,
               "negatives": self.negatives, "json": sorted(set(self.json))}
        with open(os.path.join(self.root, "manifest.json"), "w") as fh:
            json.dump(man, fh, indent=1)


PROSE = [
    "The build finished without errors after the cache was warmed.",
    "Retrying the request with exponential backoff, attempt 3 of 5.",
    "Token usage stayed under the budget for this execution.",
    "The agent asked for permission before writing to the workspace.",
    "Passwords must be rotated every ninety days according to the policy.",
    "See the secret management guide for how keys are stored.",
    "desk-top risk-free task-runner sk-learn ask-me skip_list",
    "Set the password in your environment, never in the repository.",
    "export PATH=/usr/local/bin:$PATH",
    "for (i = 0; i < n; i++) total += weights[i] * inputs[i];",
    "if token is None: raise ValueError('missing token')",
    "password = getpass.getpass()",
    "token = self.token",
    "api_key = os.environ['API_KEY']",
    "const secret = process.env.APP_SECRET;",
    "max_tokens: 4096",
    "def get_password(self): return self._password",
]


def negatives(c, name):
    g = c.g
    uuid = "%s-%s-4%s-a%s-%s" % (g.s(HEX, 8), g.s(HEX, 4), g.s(HEX, 3), g.s(HEX, 3), g.s(HEX, 12))
    sha1 = g.s(HEX, 40)
    sha256 = g.s(HEX, 64)
    c.neg(name, "request_id=" + uuid)
    c.neg(name, "commit " + sha1)
    c.neg(name, "digest: sha256:" + sha256)
    c.neg(name, "checksum " + g.s(HEX, 64))
    c.neg(name, "image@sha256:" + g.s(HEX, 64))
    c.neg(name, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + g.s(B64, 43) + " user@host")
    cert = ["-----BEGIN CERTIFICATE-----"] + g.pem_body(6) + ["-----END CERTIFICATE-----"]
    for line in cert:
        c.neg(name, line)
    pub = ["-----BEGIN PUBLIC KEY-----"] + g.pem_body(4) + ["-----END PUBLIC KEY-----"]
    for line in pub:
        c.neg(name, line)
    c.neg(name, "input_tokens: 1234")
    c.neg(name, "max_tokens=4096")
    c.neg(name, "API_TOKEN=${API_TOKEN}")
    c.neg(name, "DB_PASSWORD=$DB_PASSWORD")
    c.neg(name, "client_secret: {{ .Values.clientSecret }}")
    c.neg(name, "api_key: <your-api-key>")
    c.neg(name, "SECRET_KEY=xxxxxxxxxxxxxxxx")
    c.neg(name, "password: changeme")
    c.neg(name, "password: '***'")
    c.neg(name, "aws_access_key_id = AKIAIOSFODNN7EXAMPLE")
    c.neg(name, "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    for p in PROSE:
        c.neg(name, p)


def build(c):
    g = c.g
    S = g.secrets()

    # env file: every token shape as an assignment
    for rule, v in S:
        var = rule.upper().replace("-", "_") + "_" + g.s(UP, 3)
        c.plant("env/app.env", rule, v, "%s=%s\n" % (var, v))
    aws_secret = g.s(ALNUM + "+/", 40)
    c.plant("env/app.env", "aws-secret-access-key", aws_secret, "AWS_SECRET_ACCESS_KEY=" + aws_secret + "\n")
    for var, kind in (("APP_SECRET", "generic-secret"), ("SERVICE_TOKEN", "generic-secret"),
                      ("PAYMENTS_API_KEY", "generic-secret"), ("ENCRYPTION_KEY", "generic-secret"),
                      ("DB_PASSWORD", "generic-password"), ("REDIS_PASSWORD", "generic-password")):
        v = g.s(ALNUM, 32) if "PASSWORD" not in var else g.password()
        c.plant("env/app.env", kind, v, "%s=%s\n" % (var, v))
    v = g.s(ALNUM, 24)
    c.plant("env/app.env", "generic-secret", v, 'export WEBHOOK_SECRET="%s"\n' % v)
    acct = g.s(ALNUM + "+/", 86) + "=="
    c.plant("env/app.env", "azure-storage-key", acct,
            "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=acct%s;Account" % g.s(DIG, 3)
            + "Key=" + acct + ";EndpointSuffix=core.windows.net\n")
    tw = "S" + "K" + g.s(HEX, 32)
    c.plant("env/app.env", "twilio-key", tw, "# twilio api key\nTWILIO_KEY_SID=%s\n" % tw)
    tw = "A" + "C" + g.s(HEX, 32)
    c.plant("env/app.env", "twilio-key", tw, "twilio account %s\n" % tw)
    hook = "T" + g.s(UP + DIG, 8) + "/B" + g.s(UP + DIG, 8) + "/" + g.s(ALNUM, 24)
    c.plant("env/app.env", "slack-webhook", hook, "SLACK_URL=https://hooks." + "slack.com/services/" + hook + "\n")
    negatives(c, "env/app.env")

    # /proc/PID/environ: NUL separated
    parts = ["PATH=/usr/bin:/bin", "HOME=/home/agent", "LANG=C.UTF-8"]
    env_vals = []
    for rule, v in S[:8]:
        env_vals.append((rule, v, "TOKEN_%s=%s" % (g.s(UP, 4), v)))
    pw = g.password()
    env_vals.append(("generic-password", pw, "PGPASSWORD=" + pw))
    text = "\0".join(parts) + "\0"
    for rule, v, kv in env_vals:
        c.plant("proc/1234/environ", rule, v, text + kv + "\0")
        text = ""
    c.neg("proc/1234/environ", "LANG=C.UTF-8", "")

    # config.json (docker config, k8s secret as JSON, nested tokens)
    reg_pw = g.password()
    auth = base64.b64encode(("builder:" + reg_pw).encode()).decode()
    tok = g.s(ALNUM, 40)
    cj = {"auths": {"registry.internal:5000": {"auth": auth}},
          "credHelpers": {"gcr.io": "gcloud"},
          "service": {"name": "api", "client_secret": tok, "timeout": 30,
                      "endpoints": ["https://api.internal/v1"],
                      "github": S[2][1], "request_id": g.s(HEX, 8)},
          "usage": {"input_tokens": 1532, "output_tokens": 211, "max_tokens": 4096}}
    body = json.dumps(cj, indent=2) + "\n"
    c.plant("json/config.json", "docker-auth", auth, "", forms=[auth])
    c.planted[-1]["line"] = body[:body.find(auth)].count("\n") + 1
    c.planted.append({"file": "json/config.json", "line": body[:body.find(tok)].count("\n") + 1,
                      "rule": "generic-secret", "value": tok, "forms": []})
    c.planted.append({"file": "json/config.json", "line": body[:body.find(S[2][1])].count("\n") + 1,
                      "rule": S[2][0], "value": S[2][1], "forms": []})
    c.add("json/config.json", body)
    c.negatives.append({"file": "json/config.json", "value": '"input_tokens": 1532'})
    c.negatives.append({"file": "json/config.json", "value": '"max_tokens": 4096'})
    c.json.append("json/config.json")

    k8s_pw = g.password()
    k8s_tok = g.s(ALNUM, 32)
    ks = {"apiVersion": "v1", "data": {"password": base64.b64encode(k8s_pw.encode()).decode(),
                                       "token": base64.b64encode(k8s_tok.encode()).decode()},
          "kind": "Secret", "metadata": {"name": "db"}, "type": "Opaque"}
    body = json.dumps(ks, indent=4) + "\n"
    for v in (ks["data"]["password"], ks["data"]["token"]):
        c.planted.append({"file": "json/secret.json", "line": body[:body.find(v)].count("\n") + 1,
                          "rule": "k8s-secret", "value": v, "forms": []})
    c.add("json/secret.json", body)
    c.json.append("json/secret.json")

    # JSONL agent log: prompts everywhere, tokens in tool output
    name = "logs/agent.jsonl"
    c.json.append(name)
    line = 0
    for i, (rule, v) in enumerate(S):
        rec = {"ts": "2026-11-26T04:02:%02dZ" % (i % 60), "type": "model_call",
               "prompt": c.canary(name) + " summarise the repo",
               "messages": [{"role": "system", "content": c.canary(name)},
                            {"role": "user", "content": [{"type": "text", "text": c.canary(name)}]}],
               "system": c.canary(name), "instructions": c.canary(name),
               "input": c.canary(name), "query": c.canary(name),
               "usage": {"input_tokens": 100 + i, "output_tokens": 7, "max_tokens": 4096},
               "tool_call": {"name": "shell", "arguments": '{"cmd": "%s"}' % c.canary(name),
                             "tool_input": {"cmd": c.canary(name)},
                             "tool_output": c.canary(name), "tool_result": c.canary(name),
                             "exit": 0},
               "response": c.canary(name), "completion": c.canary(name), "output": c.canary(name),
               "choices": [{"text": c.canary(name)}], "thinking": c.canary(name),
               "reasoning": c.canary(name), "transcript": c.canary(name), "body": c.canary(name),
               "attachments": [c.canary(name)], "stdout": c.canary(name), "stderr": c.canary(name),
               "content": c.canary(name), "text": c.canary(name),
               "log": "exported token %s for the deploy step" % v,
               "env": {"API_TOKEN": g.s(ALNUM, 32)}}
        line += 1
        c.planted.append({"file": name, "line": line, "rule": rule, "value": v, "forms": []})
        c.planted.append({"file": name, "line": line, "rule": "generic-secret",
                          "value": rec["env"]["API_TOKEN"], "forms": []})
        c.add(name, json.dumps(rec) + "\n")
        if i % 5 == 0:
            esc = "".join("\\u%04x" % ord(ch) for ch in v)
            line += 1
            c.planted.append({"file": name, "line": line, "rule": rule, "value": v, "forms": [esc]})
            c.add(name, '{"type":"tool","note":"%s","n":%d}\n' % (esc, i))
        if i % 7 == 3:
            line += 1
            c.planted.append({"file": name, "line": line, "rule": rule, "value": v, "forms": []})
            c.add(name, "2026-11-26 04:02:43 WARN plain line with %s in it\n" % v)
    line += 1
    c.add(name, json.dumps({"type": "usage", "input_tokens": 99, "max_tokens": 2048, "model": "local"}) + "\n")
    c.negatives.append({"file": name, "value": '"input_tokens": 99'})
    c.negatives.append({"file": name, "value": '"max_tokens": 2048'})
    pk = "\n".join(["-----BEGIN " + "OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAA" + g.s(B64, 40)]
                   + g.pem_body(6) + ["-----END OPENSSH PRIVATE KEY-----", ""])
    line += 1
    c.planted.append({"file": name, "line": line, "rule": "private-key", "value": pk.split("\n")[2],
                      "forms": [pk.split("\n")[4]]})
    c.add(name, json.dumps({"type": "tool_result_file", "path": "/home/a/.ssh/id_ed25519", "data_blob": pk}) + "\n")

    # YAML: app config and a Kubernetes Secret
    name = "yaml/app.yaml"
    c.add(name, "server:\n  port: 8080\n  max_tokens: 4096\ndatabase:\n  host: db.internal\n")
    pw = g.password()
    c.plant(name, "generic-password", pw, "  password: %s\n" % pw)
    t = g.s(ALNUM, 40)
    c.plant(name, "generic-secret", t, "  api_token: \"%s\"\n" % t)
    t = g.s(ALNUM, 28)
    c.plant(name, "generic-secret", t, "oauth:\n  clientSecret: '%s'\n" % t)
    c.add(name, "---\napiVersion: v1\n")
    vals = [g.password(), "-----BEGIN " + "EC PRIVATE KEY-----\n" + "\n".join(g.pem_body(3)) + "\n-----END EC PRIVATE KEY-----\n",
            json.dumps({"auths": {"r.io": {"auth": base64.b64encode(("u:" + g.password()).encode()).decode()}}})]
    c.add(name, "data:\n")
    for k, v in zip(("db-password", "tls.key", "config.json"), vals):
        b = base64.b64encode(v.encode()).decode()
        c.plant(name, "k8s-secret", b, "  %s: %s\n" % (k, b))
    c.add(name, "kind: Secret\nmetadata:\n  name: app\ntype: Opaque\n")
    sd = g.password()
    c.plant(name, "k8s-secret", sd, "---\napiVersion: v1\nkind: Secret\nstringData:\n  admin-pass: %s\n" % sd)
    c.add(name, "---\napiVersion: v1\nkind: ConfigMap\ndata:\n  LOG_LEVEL: debug\n  feature: enabled\n")
    c.negatives.append({"file": name, "value": "LOG_LEVEL: debug"})
    c.negatives.append({"file": name, "value": "port: 8080"})

    # TOML
    name = "toml/config.toml"
    c.add(name, "[server]\nport = 8080\n\n[database]\nuser = \"app\"\n")
    pw = g.password()
    c.plant(name, "generic-password", pw, "password = \"%s\"\n" % pw)
    t = S[6][1]
    c.plant(name, S[6][0], t, "[stripe]\nsecret_key = \"%s\"\n" % t)
    t = g.s(ALNUM, 36)
    c.plant(name, "generic-secret", t, "[github]\ntoken = '%s'\n" % t)

    # shell history
    name = "home/.bash_history"
    c.add(name, "ls -la\ncd ~/src/app\ngit status\n")
    pw = g.password()
    c.plant(name, "cli-password", pw, "mysql -u root -p%s appdb\n" % pw)
    pw = g.password()
    c.plant(name, "cli-password", pw, "mysqldump -h db -u admin -p %s app > dump.sql\n" % pw)
    pw = g.password()
    c.plant(name, "cli-password", pw, "psql-migrate --password %s --host db\n" % pw)
    pw = g.password()
    c.plant(name, "cli-password", pw, "deploy --password=%s\n" % pw)
    t = g.s(ALNUM, 32)
    c.plant(name, "cli-password", t, "vault-sync --token %s\n" % t)
    t = g.s(ALNUM, 32)
    c.plant(name, "cli-password", t, "client --api-key %s list\n" % t)
    t = S[2][1]
    c.plant(name, S[2][0], t, "export GH_TOKEN=%s\n" % t)
    t = g.jwt()
    c.plant(name, "http-authorization", t, "curl -H 'Authorization: Bearer %s' https://api.internal/v1\n" % t)
    pw = g.password()
    c.plant(name, "url-password", pw, "git clone https://deploy:%s@git.internal/team/app.git\n" % pw)
    c.add(name, "docker login --password-stdin < pw.txt\nmake test\n")
    c.negatives.append({"file": name, "value": "docker login --password-stdin < pw.txt"})

    # netrc
    name = "home/.netrc"
    pw = g.password()
    c.plant(name, "netrc-password", pw, "machine api.internal login bot password %s\n" % pw)
    pw = g.password()
    c.plant(name, "netrc-password", pw, "machine git.internal\n  login deploy\n  password %s\n" % pw)

    # HTTP dump
    name = "http/session.txt"
    tok = g.s(ALNUM + "-._~", 40)
    c.plant(name, "http-authorization", tok, "GET /v1/items HTTP/1.1\r\nHost: api.internal\r\nAuthorization: Bearer %s\r\n" % tok)
    basic = base64.b64encode(("svc:" + g.password()).encode()).decode()
    c.plant(name, "http-authorization", basic, "Proxy-Authorization: Basic %s\r\n" % basic)
    ck = "sid=" + g.s(ALNUM, 32) + "; csrftoken=" + g.s(ALNUM, 32)
    c.plant(name, "http-cookie", ck.split("=", 1)[1].split(";")[0], "Cookie: %s\r\n" % ck)
    ak = g.s(ALNUM, 32)
    c.plant(name, "http-api-key", ak, "X-Api-Key: %s\r\nAccept: */*\r\n\r\n" % ak)
    sc = g.s(ALNUM, 40)
    c.plant(name, "http-cookie", sc, "HTTP/1.1 200 OK\r\nSet-Cookie: session=%s; Path=/; HttpOnly\r\nContent-Type: application/json\r\n\r\n" % sc)
    t = g.s(ALNUM, 32)
    c.plant(name, "generic-secret", t, '{"access_token":"%s","token_type":"bearer","expires_in":3600}\r\n' % t)
    c.negatives.append({"file": name, "value": '"token_type":"bearer","expires_in":3600'})
    c.negatives.append({"file": name, "value": "Content-Type: application/json"})

    # stack trace
    name = "logs/crash.log"
    c.add(name, "Traceback (most recent call last):\n  File \"/app/main.py\", line 42, in <module>\n    connect(dsn)\n")
    pw = g.password()
    c.plant(name, "url-password", pw, "sqlalchemy.exc.OperationalError: could not connect to postgresql://app:%s@db.internal:5432/app\n" % pw)
    pw = g.password()
    c.plant(name, "generic-password", pw, "  locals: {'user': 'app', 'password': '%s', 'retries': 3}\n" % pw)
    t = S[12][1]
    c.plant(name, S[12][0], t, "java.lang.IllegalStateException: bad credentials %s\n\tat com.x.Auth.login(Auth.java:88)\n" % t)
    key = "\n".join(["-----BEGIN " + "RSA PRIVATE KEY-----"] + g.pem_body(12) + ["-----END RSA PRIVATE KEY-----"])
    c.plant(name, "private-key", key.split("\n")[3], "dumped key:\n" + key + "\nend of dump\n", forms=[key.split("\n")[9]])
    c.negatives.append({"file": name, "value": "end of dump"})
    c.negatives.append({"file": name, "value": "\tat com.x.Auth.login(Auth.java:88)"})

    # encoded forms
    name = "enc/encoded.txt"
    for i, (rule, v) in enumerate(S):
        if i % 3 == 0:
            b = base64.b64encode(("DEPLOY_CONFIG=1\nTOKEN=" + v + "\n").encode()).decode()
            c.plant(name, rule, v, "blob: %s\n" % b, forms=[b])
        elif i % 3 == 1:
            pe = "".join("%%%02X" % ord(ch) for ch in v)
            c.plant(name, rule, v, "GET /cb?state=1&x=%s HTTP/1.1\n" % pe, forms=[pe])
        else:
            q = urllib.parse.quote("token=" + v + "&next=/home", safe="")
            esc = "".join("\\u%04x" % ord(ch) for ch in v[:6]) + v[6:]
            c.plant(name, rule, v, "redirect=%s\n" % q, forms=[])
            c.plant(name, rule, v, 'js: var t = "%s";\n' % esc, forms=[esc])
    b = base64.b64encode(("\n".join(["-----BEGIN " + "PRIVATE KEY-----"] + g.pem_body(5) + ["-----END PRIVATE KEY-----", ""])).encode()).decode()
    wrapped = "\n".join(b[i:i + 76] for i in range(0, len(b), 76))
    c.plant(name, "private-key", b, "attachment:\n%s\n" % wrapped, forms=[b[76:152]])

    # secret straddling a 64 KiB boundary
    name = "big/straddle.log"
    r = g.r
    text = []
    size = 0
    while size < 65536 - 400:
        l = r.choice(PROSE) + "\n"
        text.append(l)
        size += len(l)
    t = S[4][1]
    pre = "x" * (65536 - size - 20 - len("GITLAB_TOKEN=")) + "\n"
    text.append(pre)
    c.add(name, "".join(text))
    c.plant(name, S[4][0], t, "GITLAB_TOKEN=%s\n" % t)
    t = S[2][1]
    pad = 131072 - len(c.text(name)) - 10
    c.add(name, "y" * pad + " ")
    c.plant(name, S[2][0], t, t + " and more prose\n")

    # negatives only
    negatives(c, "neg/negatives.txt")
    code = ("func connect(password string) error {\n\treturn db.Open(dsn, password)\n}\n"
            "token := os.Getenv(\"TOKEN\")\n"
            "const maxTokens = 4096\n")
    c.neg("neg/code.go", code.strip(), code)


def bulk(c, mb):
    """About mb MB of workspace files with secrets sprinkled in."""
    g = c.g
    r = g.r
    words = ("the agent tool run step cache file path error retry model token budget policy "
             "profile sandbox network allow deny write read commit ledger event state queue "
             "build test deploy config value service request response user system").split()
    logtpl = ["%s INFO request %s finished in %dms status=200 bytes=%d",
              "%s DEBUG cache hit key=%s size=%d ttl=%d",
              "%s WARN retrying upstream %s attempt %d of %d"]
    target = mb * 1024 * 1024
    total = 0
    n = 0
    while total < target:
        kind = n % 4
        name = "bulk/%03d/%s" % (n // 50, ["service.log", "agent.jsonl", "notes.md", "deploy.yaml"][kind] if kind != 0 else "service.log")
        name = name.replace("/%s" % name.split("/")[-1], "/f%05d_%s" % (n, name.split("/")[-1]))
        parts = []
        size = 0
        lineno = 0
        fsize = r.randrange(512 * 1024, 2 * 1024 * 1024)
        while size < fsize:
            if r.random() < 0.004:
                rule, v = r.choice(g.secrets())
                if kind == 1:
                    l = json.dumps({"type": "tool", "output_ref": "blob", "log": "using %s now" % v}) + "\n"
                else:
                    l = "DEPLOY_%s=%s\n" % (g.s(UP, 4), v)
                c.planted.append({"file": name, "line": lineno + 1, "rule": rule, "value": v, "forms": []})
            elif kind == 0:
                l = r.choice(logtpl) % ("2026-11-26T04:%02d:%02dZ" % (r.randrange(60), r.randrange(60)),
                                        "%08x-%04x-4%03x-a%03x-%012x" % (r.getrandbits(32), r.getrandbits(16), r.getrandbits(12), r.getrandbits(12), r.getrandbits(48)),
                                        r.randrange(1000), r.randrange(100000)) + "\n"
            elif kind == 1:
                l = json.dumps({"ts": "2026-11-26T04:02:43Z", "type": "model_call",
                                "prompt": " ".join(r.choice(words) for _ in range(r.randrange(5, 40))),
                                "usage": {"input_tokens": r.randrange(5000), "max_tokens": 4096},
                                "sha": "%040x" % r.getrandbits(160)}) + "\n"
            elif kind == 2:
                l = " ".join(r.choice(words) for _ in range(r.randrange(4, 20))).capitalize() + ".\n"
            else:
                l = "  - name: step-%d\n    image: registry.internal/app@sha256:%064x\n    command: [\"make\", \"%s\"]\n" % (
                    r.randrange(100), r.getrandbits(256), r.choice(words))
            parts.append(l)
            size += len(l)
            lineno += l.count("\n")
        c.add(name, "".join(parts))
        if kind == 1:
            c.json.append(name)
        total += size
        n += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bulk-mb", type=int, default=0)
    ap.add_argument("--no-fixed", action="store_true", help="only the bulk files")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    c = Corpus(a.out, a.seed)
    if not a.no_fixed:
        build(c)
    if a.bulk_mb:
        bulk(c, a.bulk_mb)
    c.write()


if __name__ == "__main__":
    main()
