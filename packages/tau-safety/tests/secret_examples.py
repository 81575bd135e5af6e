"""Synthetic examples for every secret rule: positives and hard negatives.

Every secret here is fake: built at import time from a seeded random generator over the
format's alphabet, so it has a real credential's shape (prefix, length, alphabet, entropy)
but was never issued by anyone, and no token-shaped literal sits in the source.

``POSITIVES[rule_id]`` lists :class:`Example` (a realistic text and the exact secret the rule
must report in it); ``NEGATIVES[rule_id]`` lists near misses the rule must not report: one
character short, wrong prefix or case, a placeholder, a docs ellipsis, the value without the
name a context rule needs.

Loaded by the tests as a plain module (``spec_from_file_location``), so other test files can
reuse it.
"""

from __future__ import annotations

import base64
import json
import random
import string
from typing import NamedTuple

__all__ = ["NEGATIVES", "POSITIVES", "Example"]


class Example(NamedTuple):
    """A text holding a synthetic secret, and that secret."""

    text: str
    secret: str


POSITIVES: dict[str, list[Example]] = {}
NEGATIVES: dict[str, list[str]] = {}

_RNG = random.Random("tau-safety synthetic secrets, not real credentials")

ALNUM = string.ascii_letters + string.digits
LOWER = string.ascii_lowercase
LOWNUM = string.ascii_lowercase + string.digits
UPNUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
B32 = string.ascii_uppercase + "234567"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def r(n: int, alphabet: str = ALNUM) -> str:
    """*n* random characters of *alphabet* (deterministic: seeded generator)."""
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def h(n: int) -> str:
    """*n* random lowercase hex digits."""
    return r(n, HEX)


def d(n: int) -> str:
    """*n* random decimal digits, the first not 0."""
    return r(1, "123456789") + r(n - 1, string.digits)


def uuid() -> str:
    """A random UUID-shaped string."""
    return f"{h(8)}-{h(4)}-4{h(3)}-a{h(3)}-{h(12)}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def pos(rule_id: str, template: str, secret: str) -> None:
    """A positive: *template* with ``{S}`` replaced by *secret*."""
    assert "{S}" in template, template
    POSITIVES.setdefault(rule_id, []).append(Example(template.replace("{S}", secret), secret))


def neg(rule_id: str, *texts: str) -> None:
    """Hard negatives: texts the rule must not report."""
    NEGATIVES.setdefault(rule_id, []).extend(texts)


def tok(rule_id: str, template: str, secret: str, *near_misses: str) -> None:
    """A prefixed token: one positive in *template*, near misses in the same template."""
    pos(rule_id, template, secret)
    neg(rule_id, *(template.replace("{S}", miss) for miss in near_misses))


def env(rule_id: str, name: str, value: str, short: str) -> None:
    """A context rule: ``NAME=value`` is found; a short value, a placeholder and the value
    without its name are not."""
    pos(rule_id, f"export {name}={{S}}\n", value)
    neg(rule_id, f"export {name}={short}\n", f"{name}=<your-key-here>\n", f"value: {value}\n")


def pem(label: str, lines: int = 12) -> str:
    """A PEM block of random base64 lines."""
    body = "\n".join(r(64, B64) for _ in range(lines)) + "\n" + r(24, B64) + "=="
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def _jwt(header: dict[str, str]) -> str:
    claims = {"sub": r(12), "iat": int(d(10)), "scope": "read write"}
    segments = (json.dumps(header).encode(), json.dumps(claims).encode())
    return ".".join(b64url(s) for s in segments) + "." + r(43, B64URL)


# One example per line or two reads as a table; the formatter would give every argument a line.
# fmt: off

# --- Cloud providers ---------------------------------------------------------------------

tok("aws-access-key-id", "aws_access_key_id = {S}\n", "AKIA" + r(16, B32),
    "AKIA" + r(15, B32), "akia" + r(16, B32).lower(), "AKIA1234567890123456")
pos("aws-access-key-id", '{"AccessKeyId": "{S}"}', "ASIA" + r(16, B32))
tok("aws-secret-access-key", "aws_secret_access_key = {S}\n", r(40, B64),
    r(39, B64), "${AWS_SECRET_ACCESS_KEY}")
pos("aws-secret-access-key", '"SecretAccessKey": "{S}",', r(40, B64))
tok("aws-session-token", "aws_session_token = {S}\n", "IQoJb3JpZ2luX2Vj" + r(300, B64),
    "IQoJb3JpZ2luX2Vj" + r(60, B64))
tok("aws-bedrock-api-key", "AWS_BEARER_TOKEN_BEDROCK={S}\n",
    "ABSK" + b64(b"BedrockAPIKey-" + _RNG.randbytes(110)),
    "ABSK" + b64(b"SomeOtherKey-" + _RNG.randbytes(110)), "ABSKQmVkcm9ja0FQSUtleS" + r(40, B64))
tok("amazon-mws-auth-token", "MWS_AUTH_TOKEN={S}\n", "amzn.mws." + uuid(),
    "amzn.mws." + uuid()[:-1], "AMZN.MWS." + uuid())
_gcp_key = (
    "-----BEGIN PRIVATE KEY-----\\n"
    + "\\n".join(r(64, B64) for _ in range(20))
    + "\\n-----END PRIVATE KEY-----"
)
pos("gcp-service-account-key",
    '{"type": "service_account", "project_id": "demo-1", "private_key_id": "' + h(40)
    + '", "private_key": "{S}\\n", "client_email": "ci@demo-1.iam.gserviceaccount.com"}',
    _gcp_key)
neg("gcp-service-account-key",
    '"private_key": "-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n"',
    '"private_key": ""', '"private_key_id": "' + h(40) + '"')
tok("gcp-api-key", "GOOGLE_API_KEY={S}\n", "AIza" + r(35, B64URL),
    "AIza" + r(34, B64URL), "AIza" + r(36, ALNUM), "AIzaSy" + "x" * 33)
pos("gcp-api-key", "https://maps.googleapis.com/maps/api/geocode/json?key={S}&address=1",
    "AIzaSy" + r(33, B64URL))
tok("google-oauth-client-secret", '"client_secret": "{S}"', "GOCSPX-" + r(28, B64URL),
    "GOCSPX-" + r(27, B64URL), "gocspx-" + r(28, B64URL))
tok("google-oauth-access-token", "Authorization: Bearer {S}\n", "ya29." + r(120, B64URL),
    "ya29." + r(29, B64URL), "ya29.<token>")
tok("google-oauth-refresh-token", '"refresh_token": "{S}"', "1//0" + r(100, B64URL),
    "1//0" + r(30, B64URL), "1//0" + "A" * 60)
tok("firebase-cloud-messaging-key", "FCM_SERVER_KEY={S}\n",
    "AAAA" + r(7, B64URL) + ":APA91b" + r(134, B64URL),
    "AAAA" + r(7, B64URL) + ":APA91b" + r(133, B64URL),
    "AAAA" + r(7, B64URL) + ":apa91b" + r(134, B64URL))
tok("azure-storage-account-key",
    "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={S};EndpointSuffix=core.net",
    r(86, B64) + "==", r(85, B64) + "==", "<storage-account-key>")
tok("azure-sas-token",
    "https://acct.blob.core.windows.net/c/b.txt?sp=r&st=2024-01-01T00:00:00Z"
    "&se=2024-01-02T00:00:00Z&spr=https&sv=2022-11-02&sr=b&sig={S}",
    r(43, ALNUM) + "%3D", "<signature>", r(20, ALNUM))
tok("azure-service-bus-key",
    "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={S}",
    r(43, B64) + "=", r(42, B64) + "=", "<key>")
tok("azure-ad-client-secret", 'AZURE_CLIENT_SECRET="{S}"',
    r(3, ALNUM) + "8Q~" + r(34, ALNUM + "_~"),
    r(3, ALNUM) + "8Q~" + r(20, ALNUM), r(3, ALNUM) + "8q~" + r(34, ALNUM))
env("azure-devops-pat", "AZURE_DEVOPS_PAT", r(52, "abcdefghijklmnopqrstuvwxyz234567"),
    r(51, "abcdefghijklmnopqrstuvwxyz234567"))
env("azure-openai-key", "AZURE_OPENAI_API_KEY", h(32), h(31))
_teams = (
    f"https://contoso.webhook.office.com/webhookb2/{uuid()}@{uuid()}/IncomingWebhook/"
    f"{h(32)}/{uuid()}"
)
tok("microsoft-teams-webhook", "TEAMS_WEBHOOK_URL={S}\n", _teams,
    _teams.rsplit("/", 1)[0], _teams.replace("IncomingWebhook/", "IncomingWebhook/<hash>"))
tok("digitalocean-token", "DIGITALOCEAN_TOKEN={S}\n", "dop_v1_" + h(64),
    "dop_v1_" + h(63), "dop_v1_" + "x" * 64)
tok("alibaba-access-key-id", "ALIBABA_CLOUD_ACCESS_KEY_ID={S}\n", "LTAI" + r(20),
    "LTAI" + r(11), "ltai" + r(20))
env("alibaba-access-key-secret", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", r(30), r(29))
tok("tencent-cloud-secret-id", "TENCENTCLOUD_SECRET_ID={S}\n", "AKID" + r(32),
    "AKID" + r(31), "akid" + r(32))
env("tencent-cloud-secret-key", "TENCENTCLOUD_SECRET_KEY", r(32), r(31))
tok("yandex-cloud-api-key", "YC_API_KEY={S}\n", "AQVN" + r(36, B64URL),
    "AQVN" + r(30, B64URL), "aqvn" + r(36, B64URL))
env("ibm-cloud-api-key", "IBMCLOUD_API_KEY", r(44, B64URL), r(43, B64URL))
env("linode-token", "LINODE_TOKEN", h(64), h(63))
env("vultr-api-key", "VULTR_API_KEY", r(36, UPNUM), r(35, UPNUM))
env("hetzner-cloud-token", "HCLOUD_TOKEN", r(64), r(63))
env("scaleway-secret-key", "SCW_SECRET_KEY", uuid(), uuid()[:-1])
env("cloudflare-api-token", "CLOUDFLARE_API_TOKEN", r(40, B64URL), r(39, B64URL))
env("cloudflare-global-api-key", "CLOUDFLARE_API_KEY", h(37), h(36))
tok("cloudflare-origin-ca-key", "CF_ORIGIN_CA_KEY={S}\n", f"v1.0-{h(24)}-{h(146)}",
    f"v1.0-{h(24)}-{h(145)}", f"v2.0-{h(24)}-{h(146)}")
env("fastly-api-token", "FASTLY_API_TOKEN", r(32, B64URL), r(31, B64URL))
env("heroku-api-key", "HEROKU_API_KEY", uuid(), h(32))
tok("heroku-api-key-v2", "HEROKU_API_KEY={S}\n", "HRKU-AA" + r(58, B64URL),
    "HRKU-AA" + r(57, B64URL), "HRKU-AB" + r(58, B64URL))
tok("vercel-token", "VERCEL_TOKEN={S}\n", "vcp_" + r(56, B64URL),
    "vcp_" + r(55, B64URL), "vcx_" + r(56, B64URL))
pos("vercel-token", "AI_GATEWAY_API_KEY={S}\n", "vck_" + r(56, B64URL))
env("vercel-legacy-token", "VERCEL_TOKEN", r(24), r(23))
env("netlify-token", "NETLIFY_AUTH_TOKEN", r(43, B64URL), r(39, B64URL))
tok("flyio-token", "FLY_API_TOKEN=FlyV1 {S}\n", "fm2_" + r(200, B64) + "==",
    "fm2_" + r(99, B64), "fm3_" + r(200, B64))
tok("render-api-key", "RENDER_API_KEY={S}\n", "rnd_" + r(32), "rnd_" + r(31), "RND_" + r(32))
env("railway-token", "RAILWAY_TOKEN", uuid(), uuid()[:-1])
tok("supabase-access-token", "SUPABASE_ACCESS_TOKEN={S}\n", "sbp_" + h(40),
    "sbp_" + h(39), "sbp_" + r(40, "ghijklmnopqrstuvwxyz"))
tok("supabase-secret-key", "SUPABASE_SECRET_KEY={S}\n", "sb_secret_" + r(31, B64URL),
    "sb_secret_" + r(19, B64URL), "sb_publishable_" + r(31, B64URL))
tok("planetscale-token", "PLANETSCALE_SERVICE_TOKEN={S}\n", "pscale_tkn_" + r(43, B64URL),
    "pscale_tkn_" + r(31, B64URL), "pscale_xyz_" + r(43, B64URL))
env("neon-api-key", "NEON_API_KEY", r(64, LOWNUM), r(59, LOWNUM))
env("backblaze-b2-application-key", "B2_APPLICATION_KEY", "K00" + d(1) + r(27, B64),
    "K00" + d(1) + r(26, B64))

# --- Model and AI APIs -------------------------------------------------------------------

tok("openai-api-key", "OPENAI_API_KEY={S}\n",
    "sk-proj-" + r(74, B64URL) + "T3BlbkFJ" + r(74, B64URL),
    "sk-proj-" + r(156, B64URL), "sk-proj-...", "sk-" + r(48),
    "sk-proj-" + r(12) + "T3BlbkFJ" + r(12))
pos("openai-api-key", 'client = OpenAI(api_key="{S}")', "sk-" + r(20) + "T3BlbkFJ" + r(20))
tok("anthropic-api-key", "ANTHROPIC_API_KEY={S}\n", "sk-ant-api03-" + r(93, B64URL) + "AA",
    "sk-ant-api03-" + r(93, B64URL) + "AB", "sk-ant-api03-...", "sk-ant-api03-" + r(40) + "AA")
pos("anthropic-api-key", '"x-api-key": "{S}"', "sk-ant-admin01-" + r(93, B64URL) + "AA")
tok("groq-api-key", "GROQ_API_KEY={S}\n", "gsk_" + r(52), "gsk_" + r(51), "GSK_" + r(52))
tok("huggingface-token", "HF_TOKEN={S}\n", "hf_" + r(34, string.ascii_letters),
    "hf_" + r(33, string.ascii_letters), "HF_" + r(34, string.ascii_letters))
tok("replicate-api-token", "REPLICATE_API_TOKEN={S}\n", "r8_" + r(37), "r8_" + r(36),
    "r9_" + r(37))
env("cohere-api-key", "COHERE_API_KEY", r(40), r(39))
env("mistral-api-key", "MISTRAL_API_KEY", r(32), r(31))
tok("perplexity-api-key", "PERPLEXITY_API_KEY={S}\n", "pplx-" + r(48), "pplx-" + r(47),
    "pplx-" + "x" * 48)
tok("xai-api-key", "XAI_API_KEY={S}\n", "xai-" + r(80), "xai-" + r(79), "XAI-" + r(80))
tok("openrouter-api-key", "OPENROUTER_API_KEY={S}\n", "sk-or-v1-" + h(64),
    "sk-or-v1-" + h(63), "sk-or-v2-" + h(64))
tok("together-api-key", "TOGETHER_API_KEY={S}\n", "tgp_v1_" + r(43, B64URL),
    "tgp_v1_" + r(39, B64URL), "tgp_v2_" + r(43, B64URL))
env("together-legacy-api-key", "TOGETHER_API_KEY", h(64), h(63))
tok("fireworks-api-key", "FIREWORKS_API_KEY={S}\n", "fw_" + r(24), "fw_" + r(23),
    "FW_" + r(24))
env("deepseek-api-key", "DEEPSEEK_API_KEY", "sk-" + h(32), "sk-" + h(31))
tok("voyage-api-key", "VOYAGE_API_KEY={S}\n", "pa-" + r(43, B64URL), "pa-" + r(42, B64URL),
    "pa-" + "x" * 43)
tok("elevenlabs-api-key", "ELEVENLABS_API_KEY={S}\n", "sk_" + h(48), "sk_" + h(47),
    "sk_" + "0" * 48)
env("elevenlabs-legacy-api-key", "ELEVENLABS_API_KEY", h(32), h(31))
env("deepgram-api-key", "DEEPGRAM_API_KEY", h(40), h(39))
env("assemblyai-api-key", "ASSEMBLYAI_API_KEY", h(32), h(31))
tok("pinecone-api-key", "PINECONE_API_KEY={S}\n", "pcsk_" + r(6) + "_" + r(63),
    "pcsk_" + r(6) + "_" + r(40), "pcsk_" + r(63))
env("pinecone-legacy-api-key", "PINECONE_API_KEY", uuid(), uuid()[:-1])
tok("langsmith-api-key", "LANGSMITH_API_KEY={S}\n", f"lsv2_pt_{h(32)}_{h(10)}",
    f"lsv2_pt_{h(32)}_{h(9)}", f"lsv2_xx_{h(32)}_{h(10)}")
env("wandb-api-key", "WANDB_API_KEY", h(40), h(39))
pos("wandb-api-key", "machine api.wandb.ai login user password {S}\n", h(40))
tok("nvidia-api-key", "NVIDIA_API_KEY={S}\n", "nvapi-" + r(64, B64URL),
    "nvapi-" + r(63, B64URL), "nvapi-" + "x" * 64)
tok("jina-api-key", "JINA_API_KEY={S}\n", "jina_" + h(32) + r(28), "jina_" + r(49),
    "JINA_" + r(60))
tok("tavily-api-key", "TAVILY_API_KEY={S}\n", "tvly-dev-" + r(32), "tvly-" + r(31),
    "tvly-YOUR_API_KEY")
tok("firecrawl-api-key", 'FirecrawlApp(api_key="{S}")', "fc-" + h(32), "fc-" + h(31),
    "fc-YOUR_API_KEY")
tok("langfuse-secret-key", "LANGFUSE_SECRET_KEY={S}\n", "sk-lf-" + uuid(),
    "pk-lf-" + uuid(), "sk-lf-...")
tok("llamacloud-api-key", "LLAMA_CLOUD_API_KEY={S}\n", "llx-" + r(48), "llx-" + r(47),
    "llx-...")
env("stability-api-key", "STABILITY_API_KEY", "sk-" + r(48), "sk-" + r(47))
env("modal-token-secret", "MODAL_TOKEN_SECRET", "as-" + r(22), "ak-" + r(22))
env("serpapi-api-key", "SERPAPI_API_KEY", h(64), h(63))
env("exa-api-key", "EXA_API_KEY", uuid(), uuid()[:-1])
tok("e2b-api-key", "E2B_API_KEY={S}\n", "e2b_" + h(40), "e2b_" + h(39), "e2b_" + "x" * 40)
tok("browserbase-api-key", "BROWSERBASE_API_KEY={S}\n", "bb_live_" + r(27, B64URL),
    "bb_live_" + r(26, B64URL), "bb_prod_" + r(27, B64URL))
tok("logfire-write-token", "LOGFIRE_TOKEN={S}\n", "pylf_v1_us_" + r(48),
    "pylf_v1_us_" + r(29), "pylf_v1_" + r(48))
env("fal-api-key", "FAL_KEY", uuid() + ":" + h(32), uuid() + ":" + h(31))
tok("helicone-api-key", "HELICONE_API_KEY={S}\n",
    "sk-helicone-" + "-".join(r(7, LOWNUM) for _ in range(4)), "sk-helicone-" + r(19),
    "pk-helicone-" + r(30))
tok("cerebras-api-key", "CEREBRAS_API_KEY={S}\n", "csk-" + r(48, LOWNUM), "csk-" + r(39),
    "csk-" + "x" * 48)
env("clarifai-api-key", "CLARIFAI_PAT", h(32), h(31))

# --- Source hosting, packages, CI, dev and SaaS tools -------------------------------------

for _rule, _prefix in (
    ("github-pat", "ghp_"),
    ("github-oauth-token", "gho_"),
    ("github-app-token", "ghs_"),
    ("github-refresh-token", "ghr_"),
):
    tok(_rule, "GITHUB_TOKEN={S}\n", _prefix + r(36), _prefix + r(35),
        _prefix.upper() + r(36), _prefix + "x" * 36)
pos("github-app-token", "git clone https://x-access-token:{S}@github.com/o/r.git", "ghu_" + r(36))
tok("github-fine-grained-pat", "GH_TOKEN={S}\n", "github_pat_" + r(22) + "_" + r(59),
    "github_pat_" + r(40), "GITHUB_PAT_" + r(22) + "_" + r(59))
tok("gitlab-pat", "GITLAB_TOKEN={S}\n", "glpat-" + r(20, B64URL), "glpat-" + r(19, B64URL),
    "glpat-xxxxxxxxxxxxxxxxxxxx")
pos("gitlab-pat", "PRIVATE-TOKEN: {S}\n", "glpat-" + r(40, B64URL) + "." + r(9, LOWNUM))
tok("gitlab-token", "CI_DEPLOY_TOKEN={S}\n", "gldt-" + r(20, B64URL), "gldt-" + r(19, B64URL),
    "gldx-" + r(20, B64URL))
pos("gitlab-token", "curl -X POST -F token={S} -F ref=main https://gitlab.internal/api",
    "glptt-" + h(40))
tok("gitlab-runner-registration-token", "registration-token: {S}\n",
    "GR1348941" + r(20, B64URL), "GR1348941" + r(19, B64URL), "GR1348942" + r(20, B64URL))
tok("bitbucket-token", "BITBUCKET_APP_PASSWORD={S}\n", "ATBB" + r(32), "ATBB" + r(27),
    "atbb" + r(32))
tok("atlassian-api-token", "JIRA_API_TOKEN={S}\n",
    "ATATT3xFfGF0" + r(170, B64URL) + "=" + h(8).upper(), "ATATT3" + r(100, B64URL),
    "ATATT3xFfGF0...")
env("atlassian-legacy-api-token", "JIRA_API_TOKEN", r(24), r(23))
tok("npm-access-token", "//registry.internal.test/:_authToken={S}\n", "npm_" + r(36),
    "npm_" + r(35), "NPM_" + r(36))
tok("npmrc-auth-token", "_auth={S}\n", b64(b"ci:" + r(24).encode()), "${NPM_AUTH}")
neg("npmrc-auth-token", "//registry.internal.test/:_authToken=${NPM_TOKEN}\n",
    f"NGROK_AUTHTOKEN={r(27)}_{r(21)}\n")
tok("pypi-token", "UV_PUBLISH_TOKEN={S}\n", "pypi-AgEIcHlwaS5vcmc" + r(150, B64URL),
    "pypi-" + r(150, B64URL), "pypi-AgEIcHlwaS5vcmc" + r(50, B64URL))
tok("rubygems-api-key", "GEM_HOST_API_KEY={S}\n", "rubygems_" + h(48), "rubygems_" + h(47),
    "rubygems_" + r(48, "ghijklmnop"))
tok("nuget-api-key", "dotnet nuget push pkg.nupkg --api-key {S}\n", "oy2" + r(43, LOWNUM),
    "oy2" + r(42, LOWNUM), "OY2" + r(43, LOWNUM))
tok("nuget-config-password", '<add key="ClearTextPassword" value="{S}" />', r(16),
    "%NUGET_PASSWORD%", "$(NUGET_PASSWORD)")
tok("cargo-registry-token", "CARGO_REGISTRY_TOKEN={S}\n", "cio" + r(32), "cio" + r(31),
    "CIO" + r(32))
tok("clojars-token", "CLOJARS_DEPLOY_TOKEN={S}\n", "CLOJARS_" + r(60, LOWNUM),
    "CLOJARS_" + r(59, LOWNUM), "CLOJARS_" + "a" * 60)
tok("docker-hub-token", "docker login -u ci --password {S}\n", "dckr_pat_" + r(27, B64URL),
    "dckr_pat_" + r(26, B64URL), "dckr_xyz_" + r(27, B64URL))
tok("docker-config-auth", '{"auths": {"registry.internal.test": {"auth": "{S}"}}}',
    b64(b"ci:" + r(20).encode()), "", "<base64>")
tok("docker-login-password", "docker login -u ci -p {S} registry.internal.test\n", r(16),
    "$REGISTRY_PASSWORD", "<password>")
neg("docker-login-password", "docker login -u ci --password-stdin registry.internal.test\n")
tok("jfrog-api-key", "X-JFrog-Art-Api: {S}\n", "AKCp" + r(69), "AKCp" + r(68), "akcp" + r(69))
tok("jfrog-reference-token", "ARTIFACTORY_ACCESS_TOKEN={S}\n", "cmVmdGtuOjAxOjE3" + r(48),
    "cmVmdGtuOjAxOjE3" + r(47), "cmVmdGtuOjAxOjE3" + "A" * 48)
tok("terraform-cloud-token", 'credentials "app.terraform.io" { token = "{S}" }',
    r(14) + ".atlasv1." + r(67, B64URL), r(14) + ".atlasv1." + r(50, B64URL),
    r(14) + ".atlasv2." + r(67, B64URL))
tok("doppler-token", "DOPPLER_TOKEN={S}\n", "dp.pt." + r(43), "dp.pt." + r(39),
    "dp.xx." + r(43))
pos("doppler-token", "DOPPLER_TOKEN={S}\n", "dp.st.dev." + r(40))
tok("vault-token", "VAULT_TOKEN={S}\n", "hvs." + r(95, B64URL), "hvs." + r(23),
    "hvs." + "x" * 40)
tok("vault-legacy-token", "VAULT_TOKEN={S}\n", "s." + r(24), "s." + r(23), "s.<token>")
tok("pulumi-access-token", "PULUMI_ACCESS_TOKEN={S}\n", "pul-" + h(40), "pul-" + h(39),
    "pul-" + r(40, "ghijklmnop"))
tok("postman-api-key", "x-api-key: {S}\n", f"PMAK-{h(24)}-{h(34)}", f"PMAK-{h(24)}-{h(33)}",
    f"pmak-{h(24)}-{h(34)}")
tok("circleci-token", "CIRCLE_TOKEN={S}\n", f"CCIPAT_{r(22)}_{h(40)}",
    f"CCIPAT_{r(22)}_{h(39)}", f"CCIXYZ_{r(22)}_{h(40)}")
env("circleci-legacy-token", "CIRCLECI_TOKEN", h(40), h(39))
env("travis-ci-token", "TRAVIS_API_TOKEN", r(22, B64URL), r(21, B64URL))
tok("buildkite-token", "BUILDKITE_API_TOKEN={S}\n", "bkua_" + h(40), "bkua_" + h(39),
    "bkua_" + "x" * 40)
_sentry_claims = json.dumps({"iat": 1700000000.1, "url": "https://sentry.io", "org": "acme"})
tok("sentry-org-token", "SENTRY_AUTH_TOKEN={S}\n",
    "sntrys_" + b64(_sentry_claims.encode()) + "_" + r(43, B64), "sntrys_eyJ" + r(20),
    "sntrys_" + r(80))
tok("sentry-user-token", "SENTRY_AUTH_TOKEN={S}\n", "sntryu_" + h(64), "sntryu_" + h(63),
    "sntryu_" + "0" * 64)
tok("grafana-cloud-token", "GRAFANA_CLOUD_TOKEN={S}\n", "glc_" + r(100, B64) + "==",
    "glc_" + r(31, B64), "GLC_" + r(100, B64))
tok("grafana-service-account-token", "GRAFANA_TOKEN={S}\n", f"glsa_{r(32)}_{h(8)}",
    f"glsa_{r(32)}_{h(7)}", f"glsa_{r(31)}_{h(8)}")
tok("grafana-api-key", "GRAFANA_API_KEY={S}\n", "eyJrIjoi" + r(80) + "=", "eyJrIjoi" + r(60),
    "eyJrIjoi" + "A" * 80)
tok("new-relic-user-key", "NEW_RELIC_API_KEY={S}\n", "NRAK-" + r(27, UPNUM),
    "NRAK-" + r(26, UPNUM), "NRAK-" + "X" * 27)
tok("new-relic-insert-key", "X-Insert-Key: {S}\n", "NRII-" + r(32, B64URL),
    "NRII-" + r(31, B64URL), "nrii-" + r(32, B64URL))
tok("new-relic-license-key", "NEW_RELIC_LICENSE_KEY={S}\n", h(36) + "NRAL", h(35) + "NRAL",
    h(36) + "NRAK")
env("datadog-api-key", "DD_API_KEY", h(32), h(31))
pos("datadog-api-key", 'DATADOG_APP_KEY: "{S}"\n', h(40))
neg("datadog-api-key", f"ADD_API_KEY={h(32)}\n")
tok("dynatrace-token", "DT_API_TOKEN={S}\n", f"dt0c01.{r(24, UPNUM)}.{r(64, UPNUM)}",
    f"dt0c01.{r(24, UPNUM)}.{r(63, UPNUM)}", f"dt0c01.{r(23, UPNUM)}.{r(64, UPNUM)}")
tok("linear-api-key", "LINEAR_API_KEY={S}\n", "lin_api_" + r(40), "lin_api_" + r(39),
    "LIN_API_" + r(40))
tok("notion-token", "NOTION_TOKEN={S}\n", "ntn_" + d(11) + r(35), "ntn_" + r(45),
    "ntn_" + "x" * 46)
pos("notion-token", 'Notion(auth="{S}")', "secret_" + r(43))
tok("airtable-pat", "AIRTABLE_PAT={S}\n", f"pat{r(14)}.{h(64)}", f"pat{r(14)}.{h(63)}",
    f"pat{r(13)}.{h(64)}")
env("airtable-api-key", "AIRTABLE_API_KEY", "key" + r(14), "key" + r(13))
env("asana-pat", "ASANA_ACCESS_TOKEN", f"2/{d(16)}/{d(16)}:{h(32)}", f"2/{d(16)}/{d(16)}:{h(31)}")
tok("figma-pat", "FIGMA_TOKEN={S}\n", "figd_" + r(40, B64URL), "figd_" + r(37, B64URL),
    "FIGD_" + r(40, B64URL))
tok("shopify-access-token", "X-Shopify-Access-Token: {S}\n", "shpat_" + h(32),
    "shpat_" + h(31), "shpxx_" + h(32))
tok("shopify-shared-secret", "SHOPIFY_API_SECRET={S}\n", "shpss_" + h(32), "shpss_" + h(31),
    "shpss_" + "0" * 32)
env("trello-token", "TRELLO_TOKEN", "ATTA" + r(64), h(63))
tok("clickup-api-token", "CLICKUP_API_TOKEN={S}\n", f"pk_{d(8)}_{r(32, UPNUM)}",
    f"pk_{d(8)}_{r(31, UPNUM)}", f"pk_{d(8)}_{r(32, LOWNUM)}")
tok("contentful-pat", "CONTENTFUL_MANAGEMENT_TOKEN={S}\n", "CFPAT-" + r(43, B64URL),
    "CFPAT-" + r(42, B64URL), "cfpat-" + r(43, B64URL))
tok("mapbox-secret-token", "MAPBOX_ACCESS_TOKEN={S}\n",
    "sk.eyJ1Ijoi" + r(30, B64URL) + "." + r(22, B64URL),
    "pk.eyJ1Ijoi" + r(30, B64URL) + "." + r(22, B64URL), "sk.eyJ1Ijoi" + r(30, B64URL))
tok("typeform-token", "TYPEFORM_TOKEN={S}\n", "tfp_" + r(59, B64URL), "tfp_" + r(58, B64URL),
    "TFP_" + r(59, B64URL))
tok("sonarqube-token", "SONAR_TOKEN={S}\n", "sqp_" + h(40), "sqp_" + h(39), "sqx_" + h(40))
env("snyk-token", "SNYK_TOKEN", uuid(), uuid()[:-1])
env("codecov-token", "CODECOV_TOKEN", uuid(), uuid()[:-1])
env("launchdarkly-key", "LAUNCHDARKLY_SDK_KEY", "sdk-" + uuid(), "sdk-" + uuid()[:-1])
neg("launchdarkly-key", f"LAUNCHDARKLY_CLIENT_SIDE_ID={h(24)}\n")
env("okta-api-token", "OKTA_API_TOKEN", "00" + r(40, B64URL), "00" + r(39, B64URL))
env("auth0-client-secret", "AUTH0_CLIENT_SECRET", r(64, B64URL), r(63, B64URL))
tok("stytch-secret", "STYTCH_SECRET={S}\n", "secret-live-" + r(36, B64URL),
    "secret-live-" + r(35, B64URL), "secret-prod-" + r(36, B64URL))
tok("twitter-bearer-token", "TWITTER_BEARER_TOKEN={S}\n", "A" * 22 + r(90, ALNUM + "%"),
    "A" * 22 + r(79), "A" * 21 + "b" + r(90))
env("twitter-api-secret", "TWITTER_API_SECRET", r(50), r(44))
tok("facebook-access-token", "FB_ACCESS_TOKEN={S}\n", "EAAG" + r(180), "EAAG" + r(90),
    "eaag" + r(180))
env("facebook-app-secret", "FACEBOOK_APP_SECRET", h(32), h(31))
tok("dropbox-token", "DROPBOX_ACCESS_TOKEN={S}\n", "sl." + r(140, B64URL),
    "sl." + r(100, B64URL), "sl.<token>")
tok("salesforce-access-token", "SF_ACCESS_TOKEN={S}\n",
    "00D" + r(12) + "!" + r(96, ALNUM + "._"), "00D" + r(12) + "!" + r(40),
    "00D" + r(12) + "?" + r(96))
tok("hubspot-private-app-token", "HUBSPOT_ACCESS_TOKEN={S}\n", "pat-na1-" + uuid(),
    "pat-na1-" + uuid()[:-1], "pat-xx1-" + uuid())
env("zendesk-api-token", "ZENDESK_API_TOKEN", r(40), r(39))
tok("intercom-access-token", "INTERCOM_ACCESS_TOKEN={S}\n", "dG9rOj" + r(50, B64) + "=",
    "dG9rOj" + r(39, B64), "dG9rOj...")
env("freshdesk-api-key", "FRESHDESK_API_KEY", r(20), r(19))
tok("woocommerce-consumer-secret", "WOOCOMMERCE_CONSUMER_SECRET={S}\n", "cs_" + h(40),
    "cs_" + h(39), "ck_" + h(40))
env("algolia-admin-key", "ALGOLIA_ADMIN_KEY", h(32), h(31))
env("honeycomb-api-key", "HONEYCOMB_API_KEY", r(22), r(21))
env("splunk-hec-token", "SPLUNK_HEC_TOKEN", uuid(), uuid()[:-1])
tok("honeybadger-token", "HONEYBADGER_PERSONAL_AUTH_TOKEN={S}\n", "hbp_" + r(36),
    "hbp_" + r(35), "HBP_" + r(36))
tok("axiom-token", "AXIOM_TOKEN={S}\n", "xaat-" + uuid(), "xaat-" + uuid()[:-1],
    "xaxt-" + uuid())
tok("posthog-personal-api-key", "POSTHOG_PERSONAL_API_KEY={S}\n", "phx_" + r(43),
    "phc_" + r(43), "phx_" + r(42))
tok("segment-public-api-token", "SEGMENT_API_TOKEN={S}\n", "sgp_" + r(64), "sgp_" + r(63),
    "SGP_" + r(64))
tok("sourcegraph-token", "SRC_ACCESS_TOKEN={S}\n", f"sgp_{h(16)}_{h(40)}",
    f"sgp_{h(16)}_{h(39)}", "sgp_" + h(39))
pos("sourcegraph-token", "SRC_ACCESS_TOKEN={S}\n", "sgp_" + h(40))
tok("statsig-server-secret", "STATSIG_SERVER_SECRET={S}\n", "secret-" + r(43),
    "secret-" + r(42), "client-" + r(43))
tok("flagsmith-server-key", "FLAGSMITH_ENVIRONMENT_KEY={S}\n", "ser." + r(22), "ser." + r(21),
    "SER." + r(22))
tok("tailscale-key", "TS_AUTHKEY={S}\n", f"tskey-auth-k{r(10)}CNTRL-{r(32)}",
    "tskey-auth-" + r(10), "tskey-<key>")
tok("1password-service-account-token", "OP_SERVICE_ACCOUNT_TOKEN={S}\n",
    "ops_eyJ" + r(300, B64), "ops_eyJ" + r(100, B64), "ops_...")
tok("1password-secret-key", "Secret Key: {S}\n",
    f"A3-{r(6, UPNUM)}-{r(6, UPNUM)}-{r(5, UPNUM)}-{r(5, UPNUM)}-{r(5, UPNUM)}-{r(5, UPNUM)}",
    f"A3-{r(6, UPNUM)}-{r(6, UPNUM)}-{r(5, UPNUM)}-{r(5, UPNUM)}-{r(4, UPNUM)}-{r(5, UPNUM)}",
    f"A4-{r(6, UPNUM)}-{r(6, UPNUM)}-{r(5, UPNUM)}-{r(5, UPNUM)}-{r(5, UPNUM)}-{r(5, UPNUM)}")
env("ngrok-authtoken", "NGROK_AUTHTOKEN", r(27) + "_" + r(21), r(27))
tok("kubernetes-client-key-data", "users:\n- name: admin\n  user:\n    client-key-data: {S}\n",
    r(200, B64) + "==", r(50, B64), "REDACTED")
tok("kubernetes-bootstrap-token",
    "kubeadm join 10.0.0.1:6443 --token {S} --discovery-token-ca-cert-hash sha256:" + h(64),
    r(6, LOWNUM) + "." + r(16, LOWNUM), r(6, LOWNUM) + "." + r(15, LOWNUM), "<token>")
tok("openshift-token", "oc login --token={S} --server=https://api.ocp.internal:6443\n",
    "sha256~" + r(43, B64URL), "sha256~" + r(42, B64URL), "sha512~" + r(43, B64URL))
tok("rancher-token", "CATTLE_TOKEN={S}\n", f"token-{r(5, LOWNUM)}:{r(54, LOWNUM)}",
    f"token-{r(5, LOWNUM)}:{r(53, LOWNUM)}", f"token-{r(4, LOWNUM)}:{r(54, LOWNUM)}")
tok("portainer-token", "X-API-Key: {S}\n", "ptr_" + r(44, B64), "ptr_" + r(39, ALNUM),
    "PTR_" + r(44, B64))
env("consul-token", "CONSUL_HTTP_TOKEN", uuid(), uuid()[:-1])
tok("teamcity-token", "TEAMCITY_TOKEN={S}\n",
    "eyJ0eXAiOiAiVENWMiJ9." + r(36, B64URL) + "." + r(48, B64URL),
    "eyJ0eXAiOiAiVENWMiJ9." + r(10, B64URL) + "." + r(48, B64URL),
    "eyJ0eXAiOiAiVENWMiJ9." + r(36, B64URL))
tok("youtrack-token", "YOUTRACK_TOKEN={S}\n",
    "perm:" + b64(b"admin") + "." + b64(b"43-1") + "." + r(30),
    "perm:" + b64(b"admin") + "." + b64(b"43-1") + ".short", "perm:<token>")
tok("octopus-deploy-api-key", "X-Octopus-ApiKey: {S}\n", "API-" + r(26, UPNUM),
    "API-" + r(25, UPNUM), "API-" + "X" * 26)
tok("harness-token", "HARNESS_API_KEY={S}\n", f"pat.{r(22, B64URL)}.{r(24)}.{r(20)}",
    f"pat.{r(22, B64URL)}.{r(24)}.{r(19)}", f"pet.{r(22, B64URL)}.{r(24)}.{r(20)}")
tok("prefect-api-key", "PREFECT_API_KEY={S}\n", "pnu_" + r(36), "pnu_" + r(35),
    "PNU_" + r(36))
tok("readme-api-key", "README_API_KEY={S}\n", "rdme_" + r(70, LOWNUM), "rdme_" + r(69, LOWNUM),
    "rdme_" + r(70, string.ascii_uppercase))
tok("scalingo-token", "SCALINGO_API_TOKEN={S}\n", "tk-us-" + r(48, B64URL),
    "tk-us-" + r(47, B64URL), "tk-eu-" + r(48, B64URL))
tok("adafruit-io-key", "ADAFRUIT_IO_KEY={S}\n", "aio_" + r(28), "aio_" + r(27),
    "AIO_" + r(28))
tok("defined-networking-token", "DN_API_KEY={S}\n",
    f"dnkey-{r(26, LOWNUM)}-{r(52, LOWNUM)}", f"dnkey-{r(26, LOWNUM)}-{r(51, LOWNUM)}",
    f"dnkey-{r(26, LOWNUM)}")
tok("maxmind-license-key", "MAXMIND_LICENSE_KEY={S}\n", f"{r(6)}_{r(29)}_mmk",
    f"{r(6)}_{r(28)}_mmk", f"{r(6)}_{r(29)}_mmx")
tok("frameio-token", "FRAMEIO_TOKEN={S}\n", "fio-u-" + r(64, B64URL), "fio-u-" + r(63, B64URL),
    "fio-x-" + r(64, B64URL))
tok("infracost-api-key", "INFRACOST_API_KEY={S}\n", "ico-" + r(32), "ico-" + r(31),
    "ICO-" + r(32))
tok("adobe-client-secret", "ADOBE_CLIENT_SECRET={S}\n", "p8e-" + r(32), "p8e-" + r(31),
    "p9e-" + r(32))
env("ghost-admin-key", "GHOST_ADMIN_API_KEY", f"{h(24)}:{h(64)}", f"{h(24)}:{h(63)}")
env("browserstack-access-key", "BROWSERSTACK_ACCESS_KEY", r(20), r(19))
env("pagerduty-token", "PAGERDUTY_API_TOKEN", "u+" + r(18), r(19))
env("opsgenie-api-key", "OPSGENIE_API_KEY", uuid(), uuid()[:-1])
env("rollbar-token", "ROLLBAR_ACCESS_TOKEN", h(32), h(31))
env("bugsnag-api-key", "BUGSNAG_API_KEY", h(32), h(31))
env("sidekiq-enterprise-credentials", "BUNDLE_ENTERPRISE__CONTRIBSYS__COM", f"{h(8)}:{h(8)}",
    f"{h(8)}:{h(7)}")
env("cisco-meraki-api-key", "MERAKI_DASHBOARD_API_KEY", h(40), h(39))
env("confluent-api-secret", "CONFLUENT_CLOUD_API_SECRET", r(64, B64), r(63, B64))
env("rapidapi-key", "RAPIDAPI_KEY", r(50, B64URL), r(49, B64URL))
env("twitch-token", "TWITCH_CLIENT_SECRET", r(30, LOWNUM), r(29, LOWNUM))

# --- Payments, commerce, crypto ------------------------------------------------------------

env("paystack-secret-key", "PAYSTACK_SECRET_KEY", "sk_live_" + h(40), "sk_live_" + h(39))
tok("stripe-secret-key", "STRIPE_SECRET_KEY={S}\n", "sk_live_51" + r(97),
    "sk_live_" + "x" * 24, "sk_live_" + r(19), "SK_LIVE_" + r(99))
pos("stripe-secret-key", "stripe.api_key = '{S}'", "rk_test_" + r(24))
tok("stripe-publishable-key", "STRIPE_PUBLISHABLE_KEY={S}\n", "pk_live_" + r(99),
    "pk_test_" + r(99), "pk_live_" + r(19))
tok("stripe-webhook-secret", "STRIPE_WEBHOOK_SECRET={S}\n", "whsec_" + r(32),
    "whsec_" + r(31), "whsec_...")
tok("square-access-token", "SQUARE_ACCESS_TOKEN={S}\n", "EAAA" + r(60, B64URL),
    "EAAA" + r(59, B64URL), "eaaa" + r(60, B64URL))
pos("square-access-token", "SQUARE_ACCESS_TOKEN={S}\n", "sq0atp-" + r(22, B64URL))
tok("square-oauth-secret", "SQUARE_APPLICATION_SECRET={S}\n", "sq0csp-" + r(43, B64URL),
    "sq0csp-" + r(42, B64URL), "sq0idp-" + r(43, B64URL))
tok("braintree-access-token", "BRAINTREE_ACCESS_TOKEN={S}\n",
    f"access_token$production${r(16, LOWNUM)}${h(32)}",
    f"access_token$production${r(16, LOWNUM)}${h(31)}",
    f"access_token$staging${r(16, LOWNUM)}${h(32)}")
env("paypal-client-secret", "PAYPAL_CLIENT_SECRET", "E" + r(79, B64URL), "E" + r(78, B64URL))
env("adyen-api-key", "ADYEN_API_KEY", "AQE" + r(130, B64 + "-="), "AQE" + r(50, B64))
tok("razorpay-key-id", "RAZORPAY_KEY_ID={S}\n", "rzp_live_" + r(14), "rzp_live_" + r(13),
    "rzp_prod_" + r(14))
env("razorpay-key-secret", "RAZORPAY_KEY_SECRET", r(24), r(23))
tok("flutterwave-secret-key", "FLW_SECRET_KEY={S}\n",
    "FLWSECK_TEST-" + r(32, "abcdefgh0123456789") + "-X",
    "FLWPUBK_TEST-" + r(32, "abcdefgh0123456789") + "-X",
    "FLWSECK_TEST-" + r(31, "abcdefgh0123456789") + "-X")
env("coinbase-api-secret", "COINBASE_API_SECRET", r(48, B64URL), r(31, B64URL))
tok("plaid-access-token", "PLAID_ACCESS_TOKEN={S}\n", "access-sandbox-" + uuid(),
    "access-staging-" + uuid(), "access-sandbox-" + uuid()[:-1])
env("plaid-secret", "PLAID_SECRET", h(30), h(29))
tok("mollie-api-key", "MOLLIE_API_KEY={S}\n", "live_" + r(30), "live_" + r(29),
    "test_" + r(30))
env("gocardless-token", "GOCARDLESS_ACCESS_TOKEN", "live_" + r(40, B64URL),
    "live_" + r(39, B64URL))
env("checkout-secret-key", "CHECKOUT_SECRET_KEY", "sk_sbox_" + r(26, LOWNUM),
    "pk_sbox_" + r(26, LOWNUM))
tok("paddle-api-key", "PADDLE_API_KEY={S}\n",
    f"pdl_live_apikey_{r(26, LOWNUM)}_{r(22)}_{r(3)}", "pdl_live_apikey_" + r(20),
    f"pdl_prod_apikey_{r(26, LOWNUM)}_{r(22)}_{r(3)}")
tok("mercadopago-access-token", "MP_ACCESS_TOKEN={S}\n",
    f"APP_USR-{d(16)}-{d(6)}-{h(32)}-{d(9)}", f"APP_USR-{d(16)}-{d(6)}-{h(31)}-{d(9)}",
    f"TEST-{d(16)}-{d(6)}-{h(32)}-{d(9)}")
tok("midtrans-server-key", "MIDTRANS_SERVER_KEY={S}\n", "Mid-server-" + r(24, B64URL),
    "Mid-client-" + r(24, B64URL), "Mid-server-" + r(23, B64URL))
tok("xendit-secret-key", "XENDIT_SECRET_KEY={S}\n", "xnd_development_" + r(60),
    "xnd_public_development_" + r(60), "xnd_development_" + r(30))
tok("shippo-api-token", "SHIPPO_API_TOKEN={S}\n", "shippo_live_" + h(40),
    "shippo_live_" + h(39), "shippo_prod_" + h(40))
tok("easypost-api-key", "EASYPOST_API_KEY={S}\n", "EZAK" + r(54), "EZAK" + r(53),
    "EZXK" + r(54))
tok("duffel-api-token", "DUFFEL_ACCESS_TOKEN={S}\n", "duffel_test_" + r(43, B64URL),
    "duffel_test_" + r(42, B64URL), "duffel_prod_" + r(43, B64URL))
env("binance-api-secret", "BINANCE_API_SECRET", r(64), r(63))
env("infura-api-key", "INFURA_PROJECT_SECRET", h(32), h(31))
env("alchemy-api-key", "ALCHEMY_API_KEY", r(32, B64URL), r(31, B64URL))
env("etherscan-api-key", "ETHERSCAN_API_KEY", r(34, UPNUM), r(33, UPNUM))
env("ethereum-private-key", "PRIVATE_KEY", "0x" + h(64), "0x" + h(63))
neg("ethereum-private-key", f"WALLET_ADDRESS=0x{h(40)}\n")

# --- Messaging and customer communication ------------------------------------------------

tok("slack-bot-token", "SLACK_BOT_TOKEN={S}\n", f"xoxb-{d(12)}-{d(13)}-{r(24)}",
    f"xoxb-{d(12)}-{d(13)}-{r(17)}", "xoxb-your-bot-token", f"xoxq-{d(12)}-{d(13)}-{r(24)}")
tok("slack-user-token", "SLACK_USER_TOKEN={S}\n", f"xoxp-{d(12)}-{d(12)}-{d(13)}-{h(32)}",
    f"xoxp-{d(12)}-{d(12)}-{d(13)}-{h(31)}", "xoxp-...")
tok("slack-app-token", "SLACK_APP_TOKEN={S}\n", f"xapp-1-A{r(10, UPNUM)}-{d(13)}-{h(64)}",
    f"xapp-1-A{r(10, UPNUM)}-{d(13)}-{h(31)}", "xapp-1-...")
tok("slack-config-token", "SLACK_CONFIG_TOKEN={S}\n", "xoxe.xoxp-1-" + r(166),
    "xoxe.xoxp-1-" + r(100), "xoxe.xoxp-1-...")
tok("slack-legacy-token", "SLACK_TOKEN={S}\n", f"xoxs-{d(10)}-{d(10)}-{d(12)}-{h(64)}",
    "xoxs-1234-abc", "xoxs-...")
_slack_hook = f"https://hooks.slack.com/services/T{r(8, UPNUM)}/B{r(8, UPNUM)}/{r(24)}"
tok("slack-webhook-url", "SLACK_WEBHOOK_URL={S}\n", _slack_hook,
    "https://hooks.slack.com/services/T000/B000/abc", "https://hooks.slack.com/services/...")
env("discord-bot-token", "DISCORD_BOT_TOKEN",
    f"{r(26, B64URL)}.{r(6, B64URL)}.{r(38, B64URL)}", f"{r(26, B64URL)}.{r(6, B64URL)}")
tok("discord-webhook-url", "DISCORD_WEBHOOK={S}\n",
    f"https://discord.com/api/webhooks/{d(18)}/{r(68, B64URL)}",
    f"https://discord.com/api/webhooks/{d(18)}/{r(20, B64URL)}",
    "https://discord.com/api/webhooks/<id>/<token>")
tok("telegram-bot-token", "TELEGRAM_BOT_TOKEN={S}\n", f"{d(10)}:AA{r(33, B64URL)}",
    f"{d(10)}:AA{r(32, B64URL)}", f"{d(10)}:BB{r(33, B64URL)}")
pos("telegram-bot-token", "curl https://api.telegram.org/bot{S}/getMe",
    f"{d(9)}:AA{r(33, B64URL)}")
tok("twilio-api-key", "TWILIO_API_KEY={S}\n", "SK" + h(32), "SK" + h(31), "SX" + h(32))
env("twilio-auth-token", "TWILIO_AUTH_TOKEN", h(32), h(31))
tok("sendgrid-api-key", "SENDGRID_API_KEY={S}\n", f"SG.{r(22, B64URL)}.{r(43, B64URL)}",
    f"SG.{r(22, B64URL)}.{r(42, B64URL)}", "SG.xxxxx.yyyyy")
env("mailgun-api-key", "MAILGUN_API_KEY", "key-" + h(32), "key-" + h(31))
pos("mailgun-api-key", "curl -s --user 'api:{S}' https://api.mailgun.net/v3/x/messages",
    "key-" + h(32))
tok("mailchimp-api-key", "MAILCHIMP_API_KEY={S}\n", h(32) + "-us21", h(31) + "-us21",
    h(32) + "-eu21")
env("mandrill-api-key", "MANDRILL_API_KEY", "md-" + r(22, B64URL), "md-" + r(21, B64URL))
env("postmark-server-token", "POSTMARK_SERVER_TOKEN", uuid(), uuid()[:-1])
env("vonage-api-secret", "VONAGE_API_SECRET", r(16), r(15))
env("messagebird-api-key", "MESSAGEBIRD_API_KEY", r(25), r(24))
tok("brevo-api-key", "BREVO_API_KEY={S}\n", f"xkeysib-{h(64)}-{r(16)}",
    f"xkeysib-{h(63)}-{r(16)}", f"xkeysib-{h(64)}-{r(15)}")
tok("resend-api-key", "RESEND_API_KEY={S}\n", f"re_{r(8)}_{r(24)}", f"re_{r(8)}_{r(19)}",
    "re_" + r(33))
env("sparkpost-api-key", "SPARKPOST_API_KEY", h(40), h(39))
env("mailjet-api-key", "MAILJET_API_SECRET", h(32), h(31))
tok("telnyx-api-key", "TELNYX_API_KEY={S}\n", f"KEY{r(32, '0123456789ABCDEF')}_{r(22)}",
    f"KEY{r(32, '0123456789ABCDEF')}_{r(21)}", f"KEY{r(32, LOWER)}_{r(22)}")
env("plivo-auth-token", "PLIVO_AUTH_TOKEN", r(40), r(39))
env("pusher-secret", "PUSHER_APP_SECRET", h(20), h(19))
env("ably-api-key", "ABLY_API_KEY", f"{r(6, B64URL)}.{r(6, B64URL)}:{r(43, B64URL)}",
    f"{r(6, B64URL)}.{r(6, B64URL)}:{r(42, B64URL)}")
_chat_hook = (
    f"https://chat.googleapis.com/v1/spaces/AAAA{r(7)}/messages?key=AIza{r(35, B64URL)}"
    f"&token={r(43, B64URL)}%3D"
)
tok("google-chat-webhook", "GOOGLE_CHAT_WEBHOOK={S}\n", _chat_hook,
    _chat_hook.split("&token=", maxsplit=1)[0],
    "https://chat.googleapis.com/v1/spaces/<space>/messages")
tok("onesignal-api-key", "ONESIGNAL_REST_API_KEY={S}\n", "os_v2_app_" + r(113, LOWNUM),
    "os_v2_app_" + r(49, LOWNUM), "os_v1_app_" + r(113, LOWNUM))
tok("klaviyo-private-key", "KLAVIYO_PRIVATE_KEY={S}\n", "pk_" + r(34), "pk_" + r(33),
    "PK_" + r(34))
tok("zapier-webhook-url", "ZAPIER_HOOK={S}\n",
    f"https://hooks.zapier.com/hooks/catch/{d(7)}/{r(6, LOWNUM)}/",
    "https://hooks.zapier.com/hooks/catch/", "https://hooks.zapier.com/hooks/catch/<id>/")
env("mattermost-token", "MATTERMOST_TOKEN", r(26, LOWNUM), r(25, LOWNUM))

# --- Databases and connection strings ------------------------------------------------------

_DSN_NEGATIVES = ("{scheme}://app@db.internal:5432/app", "{scheme}://app:${{DB_PASSWORD}}@db/app",
                  "{scheme}://app:<password>@db/app", "{scheme}://app:****@db/app",
                  "{scheme}://db.internal:5432/app", "{scheme}://user:pass@localhost/db")
for _rule, _template in (
    ("postgres-connection-string", "DATABASE_URL=postgres://app:{S}@db.internal:5432/app\n"),
    ("mysql-connection-string", "DATABASE_URL=mysql://root:{S}@127.0.0.1:3306/shop\n"),
    ("mongodb-connection-string",
     "MONGO_URI=mongodb+srv://svc:{S}@cluster0.ab1cd.mongodb.net/?retryWrites=true\n"),
    ("redis-connection-string", "REDIS_URL=redis://:{S}@cache.internal:6379/0\n"),
    ("amqp-connection-string", "BROKER_URL=amqp://worker:{S}@mq.internal:5672/jobs\n"),
    ("mssql-connection-string",
     "SQLALCHEMY_URL=mssql+pyodbc://sa:{S}@sqlhost:1433/app?driver=ODBC+Driver+18\n"),
    ("snowflake-connection-string", "snowflake://analyst:{S}@myorg-acct/db/public?warehouse=wh"),
    ("clickhouse-connection-string", "CLICKHOUSE_URL=clickhouse://default:{S}@ch.internal:8123/db"),
    ("neo4j-connection-string", "NEO4J_URI=neo4j+s://neo4j:{S}@ab12cd34.databases.neo4j.io\n"),
):
    pos(_rule, _template, r(20, ALNUM + "!#&()-.~"))
    _scheme = _template.split("://")[0].rsplit("=", 1)[-1]
    neg(_rule, *(n.format(scheme=_scheme) for n in _DSN_NEGATIVES))
pos("postgres-connection-string", "postgresql+psycopg://u:{S}@h/db", r(12))
pos("redis-connection-string", "rediss://default:{S}@eu1-redis.upstash.io:6379", r(32))
tok("pgpassword-env", "PGPASSWORD={S} psql -h db.internal -U app app\n", r(16),
    "$DB_PASSWORD", "'<password>'")
tok("mysql-cli-password", "mysql -h db.internal -u root -p{S} shop\n", r(14), "", "$MYSQL_PWD")
neg("mysql-cli-password", "mysql -h db.internal -u root -p shop\n", "mysql --port=3306 shop\n")
env("mongodb-atlas-api-key", "MONGODB_ATLAS_PRIVATE_KEY", uuid(), uuid()[:-1])
neg("mongodb-atlas-api-key", f"MONGODB_ATLAS_PUBLIC_KEY={r(8, LOWER)}\n")
tok("jdbc-password", "spring.datasource.url=jdbc:postgresql://db:5432/app?user=app&password={S}"
    "&ssl=true\n", r(18), "${DB_PASSWORD}", "")
pos("jdbc-password", "jdbc:sqlserver://sql.internal:1433;databaseName=app;user=sa;password={S};",
    r(18))
neg("jdbc-password", "jdbc:postgresql://db:5432/app?user=app&ssl=true\n")
tok("odbc-connection-password",
    "Server=tcp:db.internal,1433;Database=app;User ID=app;Password={S};Encrypt=True;", r(18),
    "", "{your_password}")
neg("odbc-connection-password", "Server=db.internal;Database=app;Trusted_Connection=True;")
tok("clickhouse-cloud-api-secret", "CLICKHOUSE_KEY_SECRET={S}\n", "4b1d" + r(38),
    "4b1d" + r(37), "4b1e" + r(38))
tok("databricks-token", "DATABRICKS_TOKEN={S}\n", "dapi" + h(32), "dapi" + h(31),
    "dapi" + r(32, "ghijklmnop"))
env("elastic-api-key", "ELASTIC_API_KEY", r(60, B64URL) + "==", r(19, B64URL))
neg("elastic-api-key", "ExternalApiElasticSearchParams, ExternalApiElasticSearchParamsDict\n")
env("influxdb-token", "INFLUX_TOKEN", r(86, B64URL) + "==", r(85, B64URL) + "==")
env("upstash-token", "UPSTASH_REDIS_REST_TOKEN", "A" + r(59, B64URL) + "=", r(39, B64URL))
tok("xata-api-key", "XATA_API_KEY={S}\n", "xau_" + r(36), "xau_" + r(31), "XAU_" + r(36))
env("fauna-secret", "FAUNA_SECRET", "fn" + r(38, B64URL), "fn" + r(37, B64URL))
tok("cloudinary-url", "CLOUDINARY_URL=cloudinary://" + d(15) + ":{S}@demo-cloud\n",
    r(27, B64URL), "<api_secret>", "")

# --- Private keys, tokens and generic credentials ----------------------------------------

_rsa = pem("RSA PRIVATE KEY")
pos("private-key", "Here is the key:\n{S}\nDo not share it.", _rsa)
pos("private-key", "{S}\n", pem("EC PRIVATE KEY", 3))
pos("private-key", "{S}", pem("PRIVATE KEY"))
_truncated = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(r(64, B64) for _ in range(4))
pos("private-key", "$ head -5 key.pem\n{S}", _truncated)
_encrypted = (
    "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"
    + h(32).upper()
    + "\n\n"
    + "\n".join(r(64, B64) for _ in range(10))
    + "\n-----END RSA PRIVATE KEY-----"
)
pos("private-key", "{S}\n", _encrypted)
neg("private-key", _rsa.replace("RSA PRIVATE", "PUBLIC"),
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----\n<your key here>\n-----END PRIVATE KEY-----",
    pem("OPENSSH PRIVATE KEY"))
tok("openssh-private-key", "cat ~/.ssh/id_ed25519\n{S}\n",
    pem("OPENSSH PRIVATE KEY").replace("KEY-----\n", "KEY-----\nb3BlbnNzaC1rZXktdjE", 1),
    "-----BEGIN OPENSSH PRIVATE KEY-----\n<redacted>\n-----END OPENSSH PRIVATE KEY-----")
neg("openssh-private-key", f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{r(43, B64)} ci@build\n")
_pgp = (
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: synthetic\n\n"
    + "\n".join(r(64, B64) for _ in range(8))
    + "\n="
    + r(4, B64)
    + "\n-----END PGP PRIVATE KEY BLOCK-----"
)
tok("pgp-private-key", "gpg --export-secret-keys --armor\n{S}\n", _pgp,
    _pgp.replace("PRIVATE KEY", "PUBLIC KEY"),
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n...\n-----END PGP PRIVATE KEY BLOCK-----")
_ppk = (
    "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ci@build\n"
    f"Public-Lines: 2\n{r(64, B64)}\n{r(20, B64)}\nPrivate-Lines: 1\n{r(44, B64)}\n"
    f"Private-MAC: {h(64)}"
)
tok("putty-private-key", "{S}\n", _ppk, _ppk.rsplit("\n", 1)[0],
    "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n")
tok("age-secret-key", "# created: 2024-01-01\n{S}\n", "AGE-SECRET-KEY-1" + r(58, BECH32),
    "AGE-SECRET-KEY-1" + r(57, BECH32), "age1" + r(58, BECH32.lower()))
tok("jwt", "token: {S}\n", _jwt({"alg": "HS256", "typ": "JWT"}),
    _jwt({"typ": "JWT"}), _jwt({"alg": "RS256"}).rsplit(".", 1)[0], "eyJhbGciOi...")
pos("jwt", '{"id_token": "{S}"}', _jwt({"kid": r(8), "alg": "RS256"}))
pos("jwt", "SUPABASE_SERVICE_ROLE_KEY={S}\n", _jwt({"typ": "JWT", "alg": "HS256"}))
tok("sshpass-password", "sshpass -p {S} ssh deploy@build.internal\n", r(14), "$SSHPASS",
    "'<password>'")
neg("sshpass-password", "sshpass -e ssh deploy@build.internal\n")
tok("netrc-password", "machine git.internal login deploy password {S}\n", r(20), "$TOKEN")
pos("netrc-password", "machine api.internal\n  login ci\n  password {S}\n", r(24))
neg("netrc-password", "machine git.internal login deploy\n")
tok("url-credentials", "git clone https://oauth2:{S}@gitlab.internal/group/repo.git\n",
    r(20, B64URL), "${CI_JOB_TOKEN}", "<token>", "****")
pos("url-credentials", "ftp://backup:{S}@files.internal/dump.sql", r(12))
neg("url-credentials", "https://gitlab.internal/group/repo.git",
    "https://host.internal:8443/path@v2", "git@github.com:org/repo.git",
    "https://foo:bar@bar.internal/path")
tok("http-basic-auth", "Authorization: Basic {S}\n", b64(b"admin:" + r(16).encode()),
    "<credentials>", "$BASIC")
pos("http-basic-auth", '{"headers": {"Authorization": "Basic {S}"}}', b64(r(30).encode()))
tok("http-bearer-token", 'curl -H "Authorization: Bearer {S}" https://api.internal/v1/me\n',
    r(40, B64URL + "."), "$TOKEN", "{token}", "<token>")
neg("http-bearer-token", "Bearer bonds are paid to whoever holds them.")
tok("curl-user-password", "curl -u {S} https://ci.internal/api/json\n", "admin:" + r(16),
    "admin", "$USER:$PASSWORD", "admin:$PASSWORD")
tok("xml-password-element",
    "<server><id>nexus</id><username>deploy</username><password>{S}</password></server>",
    r(16), "${env.NEXUS_PASSWORD}", "{DESede}" + r(20))

# fmt: on
