# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled job: nightly.yml is the main job with the update check on and the publish summary
where the changelog play reads it; the changelog play, run for real by ansible-playbook on a publish
summary, writes one section per new revision (a registry that does not answer gives a line, not a
failed night) and says so when nothing changed."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]


def test_nightly_is_the_main_job_with_refresh_updates_then_the_changelog():
    plays = yaml.safe_load((REPO / "playbooks" / "nightly.yml").read_text())
    imports = [play.get("ansible.builtin.import_playbook") for play in plays]
    assert imports == [None, "containergen.images.site", "containergen.images.nightly_changelog"]
    main = plays[1]["vars"]
    assert main["image_build_refresh"] == "{{ containergen_refresh | default('updates') }}"
    assert main["publish_summary_file"].endswith("/publish.json")
    for unit in ("containergen-nightly.service", "containergen-nightly.timer", "containergen-nightly.cron"):
        assert "containergen.images.nightly" in (REPO / "docs" / "examples" / unit).read_text() or unit.endswith(".timer")


def changelog(tmp_path, images):
    nightly = tmp_path / "nightly"
    nightly.mkdir()
    (nightly / "publish.json").write_text(json.dumps({"images": images, "bytes_sent": 1234}), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), NO_COLOR="1")
    proc = subprocess.run(["ansible-playbook", str(REPO / "playbooks" / "nightly_changelog.yml"),
                           "-e", "containergen_nightly_dir=%s" % nightly, "-e", "publish_registry=127.0.0.1:9",
                           "-e", "publish_tls_verify=false", "-e", "publish_authfile=%s" % (tmp_path / "none.json")],
                          capture_output=True, text=True, timeout=300, check=False, env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    files = sorted(nightly.glob("changelog-*.md"))
    assert len(files) == 1
    return files[0].read_text()


def test_the_changelog_has_a_section_per_new_revision(tmp_path):
    text = changelog(tmp_path, [
        {"name": "memcached", "action": "pushed", "revision": 2, "ref": "r/ns/memcached:latest-2", "digest": "sha256:aa"},
        {"name": "redis", "action": "pushed", "revision": 1, "ref": "r/ns/redis:latest-1@sha256:bb"},
        {"name": "cron", "action": "unchanged", "revision": 4, "ref": "r/ns/cron:latest-4@sha256:cc"},
    ])
    assert "2 new revision(s) of 3 image(s); bytes sent: 1234." in text
    assert "## memcached: latest-2\n\nr/ns/memcached:latest-2@sha256:aa\nNo comparison with latest-1: " in text
    assert "## redis: latest-1\n\nr/ns/redis:latest-1@sha256:bb\nFirst revision.\n" in text
    assert "cron" not in text


def test_an_unchanged_night_says_so(tmp_path):
    text = changelog(tmp_path, [{"name": "cron", "action": "unchanged", "revision": 4, "ref": "r/ns/cron:latest-4"}])
    assert "0 new revision(s) of 1 image(s)" in text
    assert "no image was rebuilt, no revision was made." in text
