# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _docker: the rendered Containerfile, and the engine against a fake SDK client."""

import io
import json
import tarfile
import threading
import time

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _docker
from ansible_collections.containergen.images.plugins.module_utils._bootstrap import RECIPE_LABEL, ensure_base
from ansible_collections.containergen.images.plugins.module_utils._build import BuildOptions, build_plan
from ansible_collections.containergen.images.plugins.module_utils._contract import FINGERPRINT_LABEL
from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine
from ansible_collections.containergen.images.plugins.module_utils._command import (
    CommandError, CommandTimeout, Runner,
)
from ansible_collections.containergen.images.plugins.module_utils._containerfile import (
    healthcheck_instruction, label_containerfile, render_containerfile,
)
from ansible_collections.containergen.images.plugins.module_utils._docker import DockerEngine, EngineError, extract_manifest, split_ref
from ansible_collections.containergen.images.plugins.module_utils._plan import PlannedImage

from fakes import FakeRun  # pylint: disable=import-error

PROFILE = {
    "name": "testdeb",
    "package_manager": {"install": "apt-get install -y {{ packages }}", "cleanup": "apt-get clean",
                        "manifest": ["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n"]},
    "transient_errors": ["Temporary failure resolving"],
}
MARKER = "containergen-manifest-0123"
FINISH = ("{ apt-get clean\n} >&2 && printf '%s-%s\\n' containergen manifest-0123 && "
          "dpkg-query -W -f '${Package}\\t${Version}\\n' && printf '%s-%s\\n' containergen manifest-0123-end")


def planned(name="solo", steps=(), parent=None, from_ref="example.org/base:1"):
    return PlannedImage(name, parent, "localhost/cg/%s:latest" % name, from_ref, list(steps), [], {},
                        "fp-" + name, 0)


# ---- the Containerfile --------------------------------------------------------------------------

def test_render_groups_runs_and_appends_cleanup_and_manifest(tmp_path):
    steps = [
        ("label", {"a": "1", "gone": None}), ("env", 'MSG=say "hi" \\ $HOME'), ("arg", "VERSION=2"),
        ("user", "root"),
        ("run", "mkdir -p /opt/x"),
        ("copy", "--chown=1:1 files/f.txt /etc/f.txt"),
        ("run", "echo one # a comment"), ("run", ["ls", "-l", "/o p"]),
        ("healthcheck", "--interval=5s CMD test -f /x"), ("entrypoint", ["dumb-init", "--"]),
        ("cmd", ["solo"]), ("user", "svc"),
    ]
    text, files, labels = render_containerfile(planned(steps=steps), PROFILE, str(tmp_path), MARKER,
                                               build_args={"http_proxy": "http://p:3142", "PIP_INDEX_URL": "x"})
    assert text.splitlines() == [
        "FROM example.org/base:1",
        "ARG PIP_INDEX_URL",  # proxies are Docker's predefined build arguments: no ARG line, no history
        'ENV MSG="say \\"hi\\" \\\\ $HOME"',
        'ARG VERSION="2"',
        "USER root",
        'RUN ["/bin/sh", "-c", "mkdir -p /opt/x"]',
        'COPY --chown=1:1 ["files/0/f.txt", "/etc/f.txt"]',
        "RUN " + json.dumps(["/bin/sh", "-c", "(\necho one # a comment\n) &&\n(\nls -l '/o p'\n) &&\n(\n%s\n)"
                             % FINISH]),
        "HEALTHCHECK --interval=5s --timeout=30s --retries=3 CMD test -f /x",
        'ENTRYPOINT ["dumb-init", "--"]',
        'CMD ["solo"]',
        "USER svc",
    ]
    assert files == {"files/0/f.txt": str(tmp_path / "files" / "f.txt")}
    assert labels == {"a": "1", "gone": ""}


def test_render_cleanup_runs_as_root_under_a_custom_shell_and_user(tmp_path):
    steps = [("user", "root"), ("shell", "/bin/bash -o pipefail -c"), ("user", "svc"), ("run", "id")]
    text = render_containerfile(planned(steps=steps), PROFILE, str(tmp_path), MARKER)[0]
    assert text.splitlines()[3:] == [
        "USER svc",
        'RUN ["/bin/bash", "-o", "pipefail", "-c", "id"]',
        "USER root",
        "RUN " + json.dumps(["/bin/sh", "-c", FINISH]),
        "USER svc",
    ]


def test_render_config_only_image_still_records_its_manifest(tmp_path):
    text = render_containerfile(planned(steps=[("user", "root"), ("cmd", ["x"])]), PROFILE, str(tmp_path),
                                MARKER)[0]
    assert text.splitlines() == ["FROM example.org/base:1", "USER root",
                                 "RUN " + json.dumps(["/bin/sh", "-c", FINISH]), "USER root", 'CMD ["x"]']


def test_render_without_cleanup(tmp_path):
    profile = dict(PROFILE, package_manager={"manifest": ["rpm", "-qa"]})
    text = render_containerfile(planned(steps=[("user", "root"), ("run", "true")]), profile, str(tmp_path),
                                MARKER)[0]
    run = json.loads(text.splitlines()[2][len("RUN "):])
    assert run == ["/bin/sh", "-c", "(\ntrue\n) &&\n(\nprintf '%s-%s\\n' containergen manifest-0123 && rpm -qa && "
                                    "printf '%s-%s\\n' containergen manifest-0123-end\n)"]


@pytest.mark.parametrize("step, message", [
    (("env", "A=line1\nline2"), "solo: env value spans lines"),
    (("label", {"k": "a\nb"}), "solo: label k spans lines"),
    (("frobnicate", "x"), "step 'frobnicate' is not supported"),
    (("healthcheck", "--bogus=1 CMD true"), "unknown HEALTHCHECK option --bogus"),
])
def test_render_rejects_what_a_containerfile_cannot_hold(tmp_path, step, message):
    with pytest.raises(ValueError) as info:
        render_containerfile(planned(steps=[step]), PROFILE, str(tmp_path), MARKER)
    assert message in str(info.value)


DEFAULTS = "--interval=30s --timeout=30s --retries=3"


@pytest.mark.parametrize("spec, expected", [
    ("CMD test -f /x", DEFAULTS + " CMD test -f /x"),
    ("test -f /x", DEFAULTS + " CMD test -f /x"),
    ('--interval=5s --retries=2 CMD ["curl", "-f", "http://x"]',
     '--interval=5s --retries=2 --timeout=30s CMD ["curl", "-f", "http://x"]'),
    (["CMD", "a", "b c"], DEFAULTS + ' CMD ["a", "b c"]'),
    (["NONE"], "NONE"),
    ("NONE", "NONE"),
])
def test_healthcheck_instruction(spec, expected):
    assert healthcheck_instruction(spec) == expected


def test_label_containerfile_quotes_everything_literally():
    text = label_containerfile("abc", {"m": '{"a":"1"}', "d": "$HOME \\ x", "e": ""})
    assert text == 'FROM abc\nLABEL "d"="\\$HOME \\\\ x" "e"="" "m"="{\\"a\\":\\"1\\"}"\n'
    with pytest.raises(ValueError):
        label_containerfile("abc", {"k": "two\nlines"})


def test_extract_manifest():
    output = "Step 3/3 : RUN printf ... %s\nnoise\n%s\nb\t2\na\t1\n%s-end\nRemoving\n" % (MARKER, MARKER, MARKER)
    assert extract_manifest(output, MARKER) == {"a": "1", "b": "2"}
    with pytest.raises(EngineError) as info:
        extract_manifest("Step 1/1 : RUN true\n", MARKER)
    assert "printed no version manifest" in str(info.value)


def test_extract_manifest_after_a_colour_reset():
    # a RUN step that coloured its output leaves a reset at the start of the marker's line
    output = "Step 9/9 : RUN ...\n\x1b[32mok\n\x1b[0m%s\nb\t2\x1b[0m\n%s-end\n" % (MARKER, MARKER)
    assert extract_manifest(output, MARKER) == {"b": "2"}


def test_split_ref():
    assert split_ref("localhost:5000/ns/name:tag") == ("localhost:5000/ns/name", "tag")
    assert split_ref("localhost:5000/ns/name") == ("localhost:5000/ns/name", "latest")
    assert split_ref("name") == ("name", "latest")


# ---- the engine against a fake SDK client -------------------------------------------------------

class FakeClient(object):
    """Answers like docker.APIClient: build streams scripted per call; records every call."""

    api_version = "1.41"

    def __init__(self, builds=(), images=(), experimental=True):
        self.builds = list(builds)
        self.images_answer = list(images)
        self.experimental = experimental
        self.calls = []
        self.cut_event = threading.Event()

    def info(self):
        return {"ExperimentalBuild": self.experimental}

    def images(self):
        return self.images_answer

    def build(self, fileobj, **kwargs):
        with tarfile.open(fileobj=fileobj) as tar:
            names = tar.getnames()
            containerfile = tar.extractfile("Containerfile").read().decode()
        self.calls.append(("build", containerfile, names, kwargs))
        script = self.builds.pop(0)
        return script(self) if callable(script) else iter(script)

    def cut(self):
        self.cut_event.set()

    def close(self):
        self.calls.append(("close",))

    def remove_image(self, ref):
        self.calls.append(("remove_image", ref))

    def tag(self, image, repository, tag):
        self.calls.append(("tag", image, repository, tag))

    def import_image_from_file(self, path, repository, tag, changes):
        self.calls.append(("import", path, repository, tag, changes))

    def inspect_image(self, ref):
        return {"Id": "sha256:imported"}

    def load_image(self, data):
        self.calls.append(("load", data.read()))

    def pull(self, repository, tag):
        self.calls.append(("pull", repository, tag))


def stream(*lines, image_id="sha256:staged", error=None):
    items = [{"stream": line} for line in lines]
    if error:
        items.append({"error": error, "errorDetail": {"message": error}})
    elif image_id:
        items.append({"aux": {"ID": image_id}})
    return items


def manifest_output(marker):
    return [" ---> Running in c1\n", "%s\n" % marker, "pkg-a\t1.0\n", "%s-end\n" % marker]


def engine_for(client, marker="containergen-manifest-feed"):
    engine = DockerEngine(client=client, connect=lambda: client)
    return engine


def fixed_marker(monkeypatch, hexa="feedfeedfeed"):
    class FakeUUID(object):
        hex = hexa
    monkeypatch.setattr(_docker.uuid, "uuid4", FakeUUID)
    return "containergen-manifest-" + hexa


def test_build_image_two_builds_labels_and_squash_cleanup(tmp_path, monkeypatch):
    marker = fixed_marker(monkeypatch)
    first = stream("Step 1/3 : FROM base\n", " ---> 1111111111aa\n", "Step 2/3 : RUN x\n", *manifest_output(marker),
                   " ---> 2222222222bb\n", "Successfully built 3333333333cc\n", image_id="sha256:3333333333cc")
    second = stream("Step 1/2 : FROM 3333333333cc\n", " ---> 3333333333cc\n", " ---> 4444444444dd\n",
                    image_id="sha256:4444444444dd")
    client = FakeClient(builds=[first, second])
    item = planned(steps=[("label", {"a": "1"}), ("user", "root"), ("run", "x")])
    options = BuildOptions(build_env={"http_proxy": "http://p:3142"}, created="2024-01-01T00:00:00Z", version="1")
    log = io.BytesIO()
    built = engine_for(client).build_image(Runner(log=log), item, PROFILE, str(tmp_path), options)

    assert built["image_id"] == "4444444444dd"
    assert built["manifest"] == {"pkg-a": "1.0"}
    builds = [c for c in client.calls if c[0] == "build"]
    assert builds[0][3] == {"custom_context": True, "dockerfile": "Containerfile", "rm": True, "forcerm": True,
                            "network_mode": "host", "decode": True, "pull": False, "squash": True,
                            "buildargs": {"http_proxy": "http://p:3142"}, "nocache": True}
    assert builds[0][1].startswith("FROM example.org/base:1\nUSER root\nRUN ")
    assert builds[1][3]["tag"] == "localhost/cg/solo:latest" and "squash" not in builds[1][3]
    containerfile = builds[1][1]
    assert containerfile.startswith("FROM 3333333333cc\nLABEL ")
    assert '"a"="1"' in containerfile and '"%s"="fp-solo"' % FINGERPRINT_LABEL in containerfile
    assert '"org.opencontainers.image.base.name"="example.org/base:1"' in containerfile
    assert '"containergen.manifest"="{\\"pkg-a\\":\\"1.0\\"}"' in containerfile
    # squash keeps the unsquashed chain as dangling images: its top is removed (parents are pruned)
    assert ("remove_image", "2222222222bb") in client.calls
    assert b"# Containerfile (squash: True)" in log.getvalue() and b"pkg-a\t1.0" in log.getvalue()


def test_build_image_without_squash_keeps_its_layers(tmp_path, monkeypatch):
    marker = fixed_marker(monkeypatch)
    first = stream(" ---> 1111111111aa\n", *manifest_output(marker), " ---> 3333333333cc\n",
                   image_id="sha256:3333333333cc")
    client = FakeClient(builds=[first, stream(image_id="sha256:4444444444dd")], experimental=False)
    engine_for(client).build_image(Runner(), planned(steps=[("run", "x")]), PROFILE, str(tmp_path),
                                   BuildOptions())
    assert [c for c in client.calls if c[0] == "build"][0][3]["squash"] is False
    assert not [c for c in client.calls if c[0] == "remove_image"]


def test_build_error_removes_the_intermediate_image_and_stops(tmp_path, monkeypatch):
    fixed_marker(monkeypatch)
    failed = stream("Step 1/3 : FROM base\n", " ---> 1111111111aa\n", "Step 2/3 : ENV A=1\n",
                    " ---> 2222222222bb\n", "Step 3/3 : RUN false\n", " ---> Running in c1\n",
                    error="The command '/bin/sh -c false' returned a non-zero code: 1")
    client = FakeClient(builds=[failed])
    with pytest.raises(CommandError) as info:
        engine_for(client).build_image(Runner(), planned(steps=[("run", "false")]), PROFILE, str(tmp_path),
                                       BuildOptions())
    assert info.value.argv == ["docker", "build", "solo"]
    assert "returned a non-zero code: 1" in info.value.output
    assert ("remove_image", "2222222222bb") in client.calls
    assert len([c for c in client.calls if c[0] == "build"]) == 1  # no label build, no tag


def test_missing_manifest_removes_the_staged_image(tmp_path, monkeypatch):
    fixed_marker(monkeypatch)
    client = FakeClient(builds=[stream(" ---> 1111111111aa\n", " ---> 3333333333cc\n",
                                       image_id="sha256:3333333333cc")], experimental=False)
    with pytest.raises(EngineError) as info:
        engine_for(client).build_image(Runner(), planned(steps=[("run", "x")]), PROFILE, str(tmp_path),
                                       BuildOptions())
    assert "printed no version manifest" in str(info.value)
    assert ("remove_image", "3333333333cc") in client.calls


def test_deadline_cancels_the_build(tmp_path, monkeypatch):
    fixed_marker(monkeypatch)

    def hanging(client):
        yield {"stream": " ---> 1111111111aa\n"}
        yield {"stream": " ---> 2222222222bb\n"}
        assert client.cut_event.wait(5), "the watchdog never cut the stream"
        raise IOError("Connection broken: IncompleteRead(0 bytes read)")

    client = FakeClient(builds=[hanging])
    start = time.monotonic()
    with pytest.raises(CommandTimeout):
        engine_for(client).build_image(Runner(deadline=time.monotonic() + 0.3), planned(steps=[("run", "sleep 60")]),
                                       PROFILE, str(tmp_path), BuildOptions())
    assert time.monotonic() - start < 3
    assert ("remove_image", "2222222222bb") in client.calls
    assert ("close",) in client.calls


def test_deadline_already_passed_builds_nothing(tmp_path):
    client = FakeClient()
    with pytest.raises(CommandTimeout):
        engine_for(client).build_image(Runner(deadline=time.monotonic() - 1), planned(steps=[("run", "x")]),
                                       PROFILE, str(tmp_path), BuildOptions())
    assert not [c for c in client.calls if c[0] == "build"]


def test_daemon_gone_mid_build_is_a_command_error(tmp_path, monkeypatch):
    fixed_marker(monkeypatch)

    def broken(client):
        yield {"stream": "Step 1/2 : FROM base\n"}
        raise ConnectionError("daemon went away")

    with pytest.raises(CommandError) as info:
        engine_for(FakeClient(builds=[broken])).build_image(Runner(), planned(steps=[("run", "x")]), PROFILE,
                                                            str(tmp_path), BuildOptions())
    assert "daemon went away" in info.value.output


def test_build_plan_through_the_docker_engine_skips_unchanged(tmp_path, monkeypatch):
    marker = fixed_marker(monkeypatch)
    item = planned(steps=[("run", "x")])
    images = [{"Id": "sha256:old", "RepoTags": ["localhost/cg/solo:latest"], "Size": 10,
               "Labels": {FINGERPRINT_LABEL: "fp-solo"}}]
    client = FakeClient(images=images)
    engine = engine_for(client)
    definitions = {"solo": type("D", (), {"directory": str(tmp_path)})()}
    results = build_plan(Runner(), engine, [item], PROFILE, definitions, BuildOptions(log_dir=str(tmp_path / "l")))
    assert results[0]["status"] == "skipped" and results[0]["image_id"] == "old"
    assert not [c for c in client.calls if c[0] == "build"]
    # changed: built through the engine's own build_image
    client.builds = [stream(*manifest_output(marker), " ---> 3333333333cc\n", image_id="sha256:3333333333cc"),
                     stream(image_id="sha256:4444444444dd")]
    client.images_answer = []
    results = build_plan(Runner(), engine, [item], PROFILE, definitions, BuildOptions(log_dir=str(tmp_path / "l")))
    assert results[0]["status"] == "built" and results[0]["image_id"] == "4444444444dd"
    assert (tmp_path / "l" / "solo.log").read_text().startswith("# Containerfile")


def test_list_images_tag_and_pull():
    client = FakeClient(images=[
        {"Id": "sha256:aaa", "RepoTags": ["localhost/cg/a:latest", "localhost/cg/a:1"], "Labels": {"k": "v"},
         "Size": 5},
        {"Id": "sha256:bbb", "RepoTags": ["<none>:<none>"], "Labels": None, "Size": 1},
    ])
    engine = engine_for(client)
    assert engine.list_images(Runner()) == {
        "localhost/cg/a:latest": {"id": "aaa", "labels": {"k": "v"}, "size": 5},
        "localhost/cg/a:1": {"id": "aaa", "labels": {"k": "v"}, "size": 5},
    }
    engine.tag(Runner(), "aaa", "localhost:5000/ns/a:2")
    engine.pull(Runner(), "mirror.example/ubi8:8.9", "registry.example/ubi8:latest")
    assert client.calls == [("tag", "aaa", "localhost:5000/ns/a", "2"), ("pull", "mirror.example/ubi8", "8.9"),
                            ("tag", "mirror.example/ubi8:8.9", "registry.example/ubi8", "latest")]
    assert engine.leftover_containers(Runner()) == []


def test_sdk_errors_become_engine_errors():
    class Broken(FakeClient):
        def images(self):
            raise _docker.requests.exceptions.ConnectionError("connection refused")

    with pytest.raises(EngineError) as info:
        engine_for(Broken()).list_images(Runner())
    assert str(info.value) == "docker images failed: connection refused"
    assert isinstance(info.value, CommandError)


def test_unreachable_daemon_is_named(monkeypatch):
    engine = DockerEngine(base_url="unix:///nonexistent/docker.sock")
    with pytest.raises(EngineError) as info:
        engine.list_images(Runner())
    assert "cannot reach the Docker daemon at unix:///nonexistent/docker.sock" in str(info.value)


def test_missing_sdk_is_named(monkeypatch):
    monkeypatch.setattr(_docker, "HAS_DOCKER", False)
    monkeypatch.setattr(_docker, "DOCKER_IMPORT_ERROR", "ModuleNotFoundError: No module named 'docker'\n")
    with pytest.raises(EngineError) as info:
        DockerEngine().list_images(Runner())
    assert "needs the Python package 'docker'" in str(info.value)


# ---- base images --------------------------------------------------------------------------------

DEB_PROFILE = {"name": "deb", "path": "/p/deb.yml",
               "base": {"method": "bootstrap", "image": "localhost/deb-rootfs:1",
                        "bootstrap": {"suite": "bookworm", "mirror": "http://m/debian"}}}


class Donor(BuildahEngine):
    def __init__(self, images):
        BuildahEngine.__init__(self)
        self.images = images

    def list_images(self, run):
        return self.images


def test_base_is_copied_from_the_donor_store_when_the_recipe_matches(tmp_path):
    digest = _docker_recipe_digest()
    donor = Donor({"localhost/deb-rootfs:1": {"id": "x", "labels": {RECIPE_LABEL: digest}, "size": 1}})
    client = FakeClient()
    engine = DockerEngine(client=client, donor=donor)
    run = FakeRun()

    def save(argv, **kwargs):
        with open(argv[argv.index("-o") + 1], "wb") as handle:
            handle.write(b"archive")
        return FakeRun.__call__(run, argv, **kwargs)

    assert ensure_base(Runner(run=save), engine, DEB_PROFILE, str(tmp_path), images={}) == ("imported", "copied")
    assert run.argvs[0][:6] == ["podman", "save", "--quiet", "--format", "docker-archive", "-o"]
    assert run.argvs[0][7:] == ["localhost/deb-rootfs:1"]
    assert ("load", b"archive") in client.calls
    assert list(tmp_path.iterdir()) == []  # the archive is removed


def test_base_is_imported_into_docker_when_the_donor_has_another_recipe(tmp_path, monkeypatch):
    donor = Donor({"localhost/deb-rootfs:1": {"id": "x", "labels": {RECIPE_LABEL: "other"}, "size": 1}})
    client = FakeClient()
    engine = DockerEngine(client=client, donor=donor)
    run = FakeRun()
    assert ensure_base(Runner(run=run), engine, DEB_PROFILE, str(tmp_path), images={}) == ("imported", "bootstrapped")
    assert run.argvs[0][0] == "mmdebstrap"
    imported = [c for c in client.calls if c[0] == "import"][0]
    assert imported[2:4] == ("localhost/deb-rootfs", "1")
    assert imported[4] == ["LABEL %s=%s" % (RECIPE_LABEL, _docker_recipe_digest()),
                           "LABEL org.opencontainers.image.title=deb-base",
                           "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 'CMD ["/bin/bash"]']


def _docker_recipe_digest():
    from ansible_collections.containergen.images.plugins.module_utils._bootstrap import BASE_CONFIG, recipe, recipe_hash
    return recipe_hash(dict(recipe(DEB_PROFILE), image_config=BASE_CONFIG))


def test_refresh_bootstraps_even_when_the_donor_holds_the_recipe(tmp_path):
    donor = Donor({"localhost/deb-rootfs:1": {"id": "x", "labels": {RECIPE_LABEL: _docker_recipe_digest()}, "size": 1}})
    engine = DockerEngine(client=FakeClient(), donor=donor)
    run = FakeRun()
    assert ensure_base(Runner(run=run), engine, DEB_PROFILE, str(tmp_path), images={}, refresh=True) == \
        ("imported", "bootstrapped")
    assert [argv[0] for argv in run.argvs] == ["mmdebstrap"]  # no podman save


def test_without_a_donor_docker_adopts_nothing(tmp_path):
    engine = DockerEngine(client=FakeClient())
    assert engine.adopt_base(Runner(run=FakeRun()), "localhost/deb-rootfs:1", {RECIPE_LABEL: "x"}, str(tmp_path)) is None
