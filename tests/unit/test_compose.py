"""Static checks of docker-compose.yaml, Dockerfile and .dockerignore (no Docker needed)."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
COMMON = COMPOSE["x-airflow-common"]
ENV = COMMON["environment"]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-worker", "airflow-triggerer", "airflow-init"]


def expand_defaults(text):
    """Resolve ${VAR:-default} / ${VAR} the way Compose does when VAR is unset."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", text)


def mounts():
    """Container path -> normalised host source of the common volumes."""
    pairs = (expand_defaults(v).split(":")[:2] for v in COMMON["volumes"])
    return {target: source.removeprefix("./").rstrip("/") for source, target in pairs}


def test_required_services_exist():
    missing = set([*AIRFLOW_SERVICES, "redis", "postgres", "warehouse"]) - set(SERVICES)
    assert not missing
    assert SERVICES["airflow-apiserver"]["command"] == "api-server"
    assert SERVICES["airflow-worker"]["command"] == "celery worker"


def test_celery_executor_with_redis_broker():
    assert ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert urlsplit(ENV["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    assert urlsplit(ENV["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).hostname == "airflow-apiserver"
    assert ENV["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"


def test_workers_preload_the_project_s_heavy_imports():
    import importlib

    path = ENV["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"]
    module, _, name = path.rpartition(".")
    assert (ROOT / "plugins" / Path(*module.split("."))).with_suffix(".py").is_file()
    config = getattr(importlib.import_module(module), name)
    assert "khabar.worker_preload" in config["imports"]
    assert config["broker_url"]  # Airflow's default Celery configuration underneath


def test_airflow_s_plugin_loader_executes_none_of_the_library():
    """plugins/ holds the library, no Airflow plugin: the loader would otherwise run every module of it again
    under a top-level name in every Airflow process (Great Expectations with it: 3-4 s of the api-server's
    first request for a task with outlets)."""
    from airflow._shared.module_loading import find_path_from_directory

    seen = [Path(f) for f in find_path_from_directory(str(ROOT / "plugins"), ".airflowignore", "glob")]
    assert [f for f in seen if f.suffix == ".py"] == []
    assert (ROOT / "plugins" / "khabar" / "pipeline.py").is_file()  # the library is still there, on the path


def test_the_live_services_of_tests_and_benchmarks_schedule_as_the_stack_does():
    """tests/live_services.py starts the same services for the Celery test and benchmarks/bench_celery.py."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from live_services import airflow_env

    env = airflow_env(Path("/tmp/home"), "postgresql://h/meta", 8080, "postgresql://h/warehouse", Path("/tmp/landing"))
    key = "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"
    assert env[key] == ENV[key]


def test_metadata_db_is_postgres_not_warehouse():
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        assert urlsplit(ENV[key]).hostname == "postgres", key
    meta, wh = SERVICES["postgres"], SERVICES["warehouse"]
    assert wh["image"].startswith("postgres:16")
    assert "healthcheck" in wh
    assert set(meta["volumes"]).isdisjoint(wh["volumes"]), "warehouse needs its own volume"


def test_warehouse_connection_matches_warehouse_service():
    uri = urlsplit(ENV["AIRFLOW_CONN_NEWS_WAREHOUSE"])
    wh_env = SERVICES["warehouse"]["environment"]
    assert uri.scheme == "postgresql"
    assert (uri.hostname, uri.port) == ("warehouse", 5432)
    assert uri.username == wh_env["POSTGRES_USER"]
    assert uri.password == wh_env["POSTGRES_PASSWORD"]
    assert uri.path.lstrip("/") == wh_env["POSTGRES_DB"]


def test_project_folders_and_landing_are_mounted():
    m = mounts()
    for name in ("dags", "plugins", "include", "logs", "config"):
        assert m.get(f"/opt/airflow/{name}") == name, name
    assert ENV["NEWS_LANDING_DIR"] in m, "NEWS_LANDING_DIR must be a mounted folder"
    assert (ROOT / m[ENV["NEWS_LANDING_DIR"]]).is_dir(), "default landing source must exist"


def test_env_names_match_the_code():
    sources = [ROOT / "dags" / "news_ingest.py", ROOT / "dags" / "news_common.py", *sorted((ROOT / "plugins" / "khabar").rglob("*.py"))]
    if not sources[0].exists() or len(sources) == 1:
        pytest.skip("dags/news_ingest.py or plugins/khabar/ not written yet")
    code = "\n".join(p.read_text(encoding="utf-8") for p in sources)
    assert "news_warehouse" in code, "connection id used by the code changed"
    assert "NEWS_LANDING_DIR" in code, "landing env var used by the code changed"
    assert "AIRFLOW_CONN_" + "news_warehouse".upper() in ENV
    assert "NEWS_LANDING_DIR" in ENV
    # every pipeline setting the stack sets is one the code reads (a renamed setting would be silently ignored)
    for name in (k for k in ENV if k.startswith("NEWS_")):
        assert name in code, f"{name} is set in docker-compose.yaml but read nowhere in dags/ or plugins/khabar/"


def test_every_dag_file_is_in_the_mounted_dags_folder():
    dags_folder = ENV.get("AIRFLOW__CORE__DAGS_FOLDER", "/opt/airflow/dags")
    assert mounts().get(dags_folder) == "dags", "Airflow's dags folder must be the mounted ./dags"
    stems = {p.stem for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_")}
    if (ROOT / "dags" / "news_ingest.py").exists():
        assert "news_ingest" in stems
    for stem in stems:  # each DAG file is visible in the container at the same name
        host = ROOT / mounts()[dags_folder] / f"{stem}.py"
        assert host.samefile(ROOT / "dags" / f"{stem}.py")


def test_worker_is_scalable():
    worker = SERVICES["airflow-worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "container_name" not in COMMON


def test_airflow_services_use_the_built_image():
    anchored = [n for n, s in SERVICES.items() if s.get("volumes") == COMMON["volumes"]]
    assert set(AIRFLOW_SERVICES) <= set(anchored)
    for name in anchored:
        build = SERVICES[name].get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context == ".", name
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in SERVICES[name]["environment"], name
    for name in ("postgres", "warehouse", "redis"):
        assert "build" not in SERVICES[name]


def test_long_running_services_have_healthchecks_and_wait_for_init():
    for name in set(AIRFLOW_SERVICES) - {"airflow-init"}:
        service = SERVICES[name]
        assert "healthcheck" in service, name
        deps = service["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
    assert SERVICES["airflow-worker"]["depends_on"]["warehouse"]["condition"] == "service_healthy"


def test_dockerfile_matches_requirements():
    pin = re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    base = re.search(r"^FROM\s+apache/airflow:(\S+?)-python(\S+)", DOCKERFILE, re.M)
    assert pin and base
    assert base.group(1) == pin.group(1)
    assert base.group(2) == "3.11"
    logical = DOCKERFILE.replace("\\\n", " ")  # join continuation lines
    install = re.search(r"^RUN\s+pip install.*$", logical, re.M).group(0)
    assert re.search(r"-r\s+\S*requirements\.txt", install)
    assert re.search(r"-c\s+\S*constraints\.txt", install)
    users = re.findall(r"^USER\s+(\S+)", logical[: logical.index(install)], re.M)
    assert users and users[-1] == "airflow", "pip must run as the airflow user"


def test_dockerignore_keeps_copied_files():
    rules = [r.strip() for r in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [r for r in rules if r and not r.startswith("#")]
    copied = [f for line in re.findall(r"^COPY\s+(.+)$", DOCKERFILE, re.M)
              for f in line.split()[:-1] if not f.startswith("--")]
    assert {"requirements.txt", "constraints.txt"} <= set(copied)
    for path in copied:
        ignored = False
        for rule in rules:  # last matching rule wins, "!" re-includes
            if fnmatch.fnmatch(path, rule.lstrip("!")):
                ignored = not rule.startswith("!")
        assert not ignored, f"{path} is excluded from the build context"


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def dag_constant(name: str) -> str:
    """A module-level string constant of dags/news_ingest.py or the module the DAGs share
    (dags/news_common.py), read without importing Airflow."""
    for path in (ROOT / "dags" / "news_ingest.py", ROOT / "dags" / "news_common.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
                return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not defined in dags/news_ingest.py nor dags/news_common.py")


def test_every_provider_the_stack_names_is_pinned():
    """The image installs requirements.txt: a provider the compose file relies on must be pinned there,
    not merely present in the base image (its version would then float with the image)."""
    pins = requirement_pins()
    named = {m.replace("_", "-") for m in re.findall(r"airflow\.providers\.(\w+)", COMPOSE_TEXT)}
    if ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor":
        named.add("celery")
    assert named, "the CeleryExecutor stack names at least the celery provider"
    missing = sorted(f"apache-airflow-providers-{n}" for n in named if f"apache-airflow-providers-{n}" not in pins)
    assert not missing, f"not pinned in requirements.txt: {missing}"


@pytest.mark.parametrize("key", ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"])
def test_metadata_urls_name_the_pinned_driver(key):
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which requirements.txt does not install.
    scheme = urlsplit(ENV[key].removeprefix("db+")).scheme
    assert scheme == "postgresql+psycopg2", f"{key}: {scheme}"
    assert "psycopg2-binary" in requirement_pins()


def test_connection_and_variable_names_follow_the_dag():
    conn_id, variable = dag_constant("WAREHOUSE_CONN_ID"), dag_constant("LANDING_VARIABLE")
    assert f"AIRFLOW_CONN_{conn_id.upper()}" in ENV, conn_id
    # The landing root comes from NEWS_LANDING_DIR, else the Airflow Variable: the stack sets one of them.
    assert "NEWS_LANDING_DIR" in ENV or f"AIRFLOW_VAR_{variable.upper()}" in ENV


def test_every_news_setting_is_one_the_code_reads():
    code = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "dags" / "news_ingest.py", ROOT / "dags" / "news_common.py",
                                                            *(ROOT / "plugins" / "khabar").rglob("*.py")])
    for key in (k for k in ENV if k.startswith("NEWS_")):
        assert f'"{key}"' in code, f"{key} is set in the compose file but read nowhere"


def test_quarantine_evidence_is_shared_by_every_worker():
    # A day's stages may run on different workers (and --scale adds more): the bytes of quarantined
    # files must land in one mounted folder, not inside whichever container ran the task.
    assert ENV["NEWS_QUARANTINE_DIR"] in mounts()
    assert mounts()[ENV["NEWS_LANDING_DIR"]] != mounts()[ENV["NEWS_QUARANTINE_DIR"]], "kept apart from the landing zone"
