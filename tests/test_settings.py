import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.settings import DEFAULTS, Secret, SettingsError, load_image_limits, load_settings

ROOT = Path(__file__).resolve().parent.parent
BASE = {
    "THUMBNAILS_STORAGE": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;",
    "ITWIN_CLIENT_ID": "client",
    "ITWIN_CLIENT_SECRET": "s3cret-value",
}


def test_defaults_apply_when_only_the_required_settings_are_given():
    settings = load_settings(BASE)
    assert settings.incoming_container == "thumbnails"
    assert settings.processed_container == "thumbnails-processed"
    assert settings.deadletter_container == "thumbnails-deadletter"
    assert settings.itwin.api_url == "https://api.bentley.com"
    assert settings.itwin.token_url == "https://ims.bentley.com/connect/token"
    assert settings.itwin.scope == "itwin-platform"
    assert (settings.image.max_width, settings.image.max_height) == (800, 500)
    assert settings.image.max_output_bytes == 5_242_880
    assert settings.retry.max_delivery_attempts == 5
    assert (settings.sandbox.isolate, settings.sandbox.timeout_seconds, settings.sandbox.workers) == (True, 20.0, 2)


def test_image_isolation_can_be_switched_off_for_debugging():
    sandbox = load_settings({**BASE, "IMAGE_ISOLATION": "false", "IMAGE_TIMEOUT_SECONDS": "2.5"}).sandbox
    assert (sandbox.isolate, sandbox.timeout_seconds) == (False, 2.5)


@pytest.mark.parametrize("missing", ["ITWIN_CLIENT_ID", "ITWIN_CLIENT_SECRET", "THUMBNAILS_STORAGE"])
def test_a_missing_required_setting_is_named(missing):
    env = {key: value for key, value in BASE.items() if key != missing}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.name == missing
    assert missing in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THUMBNAIL_MAX_WIDTH", "wide"),
        ("THUMBNAIL_MAX_HEIGHT", "0"),
        ("MAX_BLOB_BYTES", "-5"),
        ("ALLOW_TIFF", "maybe"),
        ("HDR_EXPOSURE_STOPS", "bright"),
        ("HDR_EXPOSURE_STOPS", "30"),
        ("THUMBNAILS_CONTAINER", "Bad_Name"),
        ("RETRY_BUDGET_SECONDS", "0"),
        ("ITWIN_API_URL", "api.bentley.com"),
        ("ITWIN_API_URL", "http://api.bentley.com"),
        ("ITWIN_TOKEN_URL", "http://10.0.0.5/connect/token"),
        ("MAX_DELIVERY_ATTEMPTS", "0"),
        ("IMAGE_ISOLATION", "sometimes"),
        ("IMAGE_TIMEOUT_SECONDS", "0"),
        ("IMAGE_TIMEOUT_SECONDS", "soon"),
        ("IMAGE_WORKERS", "0"),
        ("IMAGE_WORKERS", "64"),
    ],
)
def test_a_malformed_setting_is_named(name, value):
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, name: value})
    assert caught.value.name == name


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "http://localhost:8080", "http://[::1]:9000"])
def test_plain_http_is_allowed_only_for_loopback(url):
    assert load_settings({**BASE, "ITWIN_API_URL": url}).itwin.api_url == url


def test_containers_must_differ():
    with pytest.raises(SettingsError):
        load_settings({**BASE, "PROCESSED_CONTAINER": "thumbnails"})


def test_identity_based_storage_connection():
    env = {key: value for key, value in BASE.items() if key != "THUMBNAILS_STORAGE"}
    env |= {
        "THUMBNAILS_STORAGE__blobServiceUri": "https://acct.blob.core.windows.net",
        "THUMBNAILS_STORAGE__queueServiceUri": "https://acct.queue.core.windows.net",
        "THUMBNAILS_STORAGE__credential": "managedidentity",
        "THUMBNAILS_STORAGE__clientId": "00000000-0000-0000-0000-000000000001",
    }
    storage = load_settings(env).storage
    assert storage.uses_identity
    assert storage.blob_service_uri == "https://acct.blob.core.windows.net"
    assert storage.client_id == "00000000-0000-0000-0000-000000000001"


def test_identity_credential_must_be_managed_identity():
    env = {key: value for key, value in BASE.items() if key != "THUMBNAILS_STORAGE"}
    env |= {
        "THUMBNAILS_STORAGE__blobServiceUri": "https://a.blob.core.windows.net",
        "THUMBNAILS_STORAGE__credential": "key",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.name == "THUMBNAILS_STORAGE__credential"


def test_the_secret_never_shows_in_repr_str_or_format():
    settings = load_settings(BASE)
    secret = settings.itwin.client_secret
    for text in (repr(settings), str(settings), f"{secret}", repr(secret), str(secret)):
        assert "s3cret-value" not in text
    assert secret.reveal() == "s3cret-value"
    assert isinstance(secret, Secret)


def test_the_connection_string_never_shows_in_repr():
    assert "a2V5" not in repr(load_settings(BASE))


def test_every_setting_is_documented_in_the_readme_and_the_example_file():
    readme = (ROOT / "README.md").read_text()
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    for name in DEFAULTS:
        assert f"`{name}`" in readme, f"{name} is not documented in README.md"
        assert name in example, f"{name} is missing from local.settings.example.json"


def test_every_error_code_is_in_the_error_table():
    from shared.core.errors import CODES

    table = (ROOT / "docs" / "errors.md").read_text()
    for code in CODES:
        assert f"| `{code.value}` |" in table, f"{code.value} is missing from docs/errors.md"


def test_max_delivery_attempts_matches_the_hosts_poison_threshold():
    host = json.loads((ROOT / "host.json").read_text())
    assert int(DEFAULTS["MAX_DELIVERY_ATTEMPTS"]) == host["extensions"]["blobs"]["poisonBlobThreshold"]


def test_hdr_exposure_is_auto_unless_a_number_of_stops_is_set():
    assert load_image_limits({}).hdr_exposure_stops is None
    assert load_image_limits({"HDR_EXPOSURE_STOPS": "AUTO"}).hdr_exposure_stops is None
    assert load_image_limits({"HDR_EXPOSURE_STOPS": "-1.5"}).hdr_exposure_stops == -1.5
    assert load_image_limits({}).allow_tiff is True


def host_json():
    return json.loads((ROOT / "host.json").read_text())


def test_the_host_json_figures_the_settings_check_against_are_the_files():
    from shared.settings import FUNCTION_TIMEOUT_SECONDS, POISON_BLOB_THRESHOLD

    host = host_json()
    assert host["extensions"]["blobs"]["poisonBlobThreshold"] == POISON_BLOB_THRESHOLD
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds == FUNCTION_TIMEOUT_SECONDS


def test_more_delivery_attempts_than_the_poison_threshold_are_refused():
    from shared.settings import POISON_BLOB_THRESHOLD

    assert load_settings({**BASE, "MAX_DELIVERY_ATTEMPTS": str(POISON_BLOB_THRESHOLD)}).retry.max_delivery_attempts == 5
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "MAX_DELIVERY_ATTEMPTS": str(POISON_BLOB_THRESHOLD + 1)})
    assert caught.value.name == "MAX_DELIVERY_ATTEMPTS"
    assert "poisonBlobThreshold" in str(caught.value)


def test_a_deadline_that_would_outlast_the_function_timeout_is_refused():
    assert load_settings({**BASE, "RETRY_BUDGET_SECONDS": "540"}).retry.budget_seconds == 540
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "RETRY_BUDGET_SECONDS": "541"})
    assert caught.value.name == "RETRY_BUDGET_SECONDS"
    assert "functionTimeout" in str(caught.value)


@pytest.mark.parametrize("name", ["ITWIN_CLIENT_SECRET", "ITWIN_CLIENT_ID", "THUMBNAILS_STORAGE"])
def test_an_unresolved_key_vault_reference_is_refused_by_name(name):
    reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/itwin-client-secret/)"
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, name: reference})
    assert caught.value.name == name
    assert "Key Vault" in str(caught.value)
    assert "kv.vault.azure.net" not in str(caught.value)


def test_http_timeouts_must_fit_inside_the_record_lease():
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "HTTP_CONNECT_TIMEOUT_SECONDS": "10", "HTTP_READ_TIMEOUT_SECONDS": "50"})
    assert caught.value.name == "HTTP_READ_TIMEOUT_SECONDS"


def test_the_state_container_must_differ_from_the_others():
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "STATE_CONTAINER": "thumbnails-processed"})
    assert caught.value.name == "STATE_CONTAINER"


def test_the_error_table_is_the_one_generated_from_the_taxonomy():
    from shared.core.errors import markdown_table

    table = (ROOT / "docs" / "errors.md").read_text()
    assert markdown_table() in table, "regenerate it: shared.core.errors.markdown_table()"


# -- one declaration per setting --------------------------------------------------------------------

README_BEGIN, README_END = "<!-- settings:begin -->", "<!-- settings:end -->"


def test_the_readme_settings_table_is_the_one_generated_from_the_declaration():
    from shared.settings import markdown_table

    readme = (ROOT / "README.md").read_text()
    assert README_BEGIN in readme, "README.md lost the settings table's begin marker"
    assert README_END in readme, "README.md lost the settings table's end marker"
    between = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert between.strip() == markdown_table().strip(), "regenerate it: python -m devkit.settings_docs"


def test_local_settings_example_is_the_one_generated_from_the_declaration():
    from shared.settings import example_json

    committed = (ROOT / "local.settings.example.json").read_text()
    assert committed == example_json(), "regenerate it: python -m devkit.settings_docs"


def test_each_setting_is_declared_once_with_a_doc_and_a_parser_that_accepts_its_default():
    from shared.settings import SETTINGS

    names = [setting.name for setting in SETTINGS]
    assert len(names) == len(set(names))
    assert set(DEFAULTS) <= set(names)
    for setting in SETTINGS:
        assert setting.doc, f"{setting.name} has no doc"
        for value in (setting.default, setting.local):
            if value:  # local "": left out of the example file
                setting.parser.parse(setting.name, value)  # raises SettingsError if the declaration contradicts itself


def test_the_config_dataclasses_keep_no_defaults_of_their_own():
    import dataclasses

    from shared.core.retry import RetrySettings
    from shared.edges.config import ItwinSettings
    from shared.imaging.limits import ImageLimits
    from shared.sandbox.config import SandboxSettings

    for config in (ImageLimits, RetrySettings, SandboxSettings, ItwinSettings):
        with_defaults = [
            f.name
            for f in dataclasses.fields(config)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        ]
        assert with_defaults == [], f"{config.__name__} keeps defaults for {with_defaults}"
    # The per-invocation policy also holds policy constants (backoff); its two settings have no default.
    from shared.core.retry import RetryPolicy

    defaults = {f.name: f.default for f in dataclasses.fields(RetryPolicy)}
    assert defaults["budget_seconds"] is dataclasses.MISSING
    assert defaults["retry_after_cap_seconds"] is dataclasses.MISSING


def test_the_helpers_for_tests_and_benches_run_the_deployed_configuration():
    from shared.settings import default_limits, default_sandbox, load_sandbox_settings

    assert default_limits() == load_image_limits({})
    assert default_limits(allow_tiff=False) == load_image_limits({"ALLOW_TIFF": "false"})
    assert default_sandbox() == load_sandbox_settings({})
    assert default_sandbox(workers=1).workers == 1


def test_the_key_vault_message_is_the_same_for_every_setting():
    reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/x/)"
    problems = set()
    for name in ("THUMBNAILS_STORAGE", "ITWIN_CLIENT_SECRET", "ITWIN_SCOPE"):
        with pytest.raises(SettingsError) as caught:
            load_settings({**BASE, name: reference})
        assert caught.value.name == name
        problems.add(caught.value.problem)
    assert len(problems) == 1, problems


def test_storage_only_settings_need_no_itwin_client():
    from shared.settings import load_storage_settings

    env = {"THUMBNAILS_STORAGE": BASE["THUMBNAILS_STORAGE"], "DEADLETTER_CONTAINER": "dead-letters"}
    storage = load_storage_settings(env)
    assert (storage.incoming_container, storage.deadletter_container) == ("thumbnails", "dead-letters")
    with pytest.raises(SettingsError) as caught:
        load_storage_settings({})
    assert caught.value.name == "THUMBNAILS_STORAGE"


# What users control: any text in any setting.  It loads, or start-up refuses it naming that setting.
_NAMES = sorted(DEFAULTS)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(name=st.sampled_from(_NAMES), value=st.one_of(st.text(max_size=30), st.from_regex(r"-?[0-9_]{1,12}(\.[0-9]+)?")))
def test_any_value_of_any_setting_loads_or_is_refused_naming_that_setting(name, value):
    refused: SettingsError | None = None
    try:
        load_settings({**BASE, name: value})
    except SettingsError as error:
        refused = error
    if refused is not None:
        # Settings checked against each other are refused under the one named in the message.
        cross_checked = {
            "HTTP_CONNECT_TIMEOUT_SECONDS": "HTTP_READ_TIMEOUT_SECONDS",
            "THUMBNAILS_CONTAINER": "STATE_CONTAINER",
            "PROCESSED_CONTAINER": "STATE_CONTAINER",
            "DEADLETTER_CONTAINER": "STATE_CONTAINER",
        }
        assert refused.name in (name, cross_checked.get(name)), (name, value, refused)
        assert refused.name in str(refused)
