"""scripts/render-diff, the check that a refactoring changes no rendered byte, sees a change."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_render_diff_passes_an_unchanged_tree_and_names_a_changed_script(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # the working tree as it is now (committed or not), so the clone renders what this checkout does
    subprocess.run(["cp", "-a", f"{REPO}/app", f"{REPO}/templates", f"{REPO}/scripts", str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "now",
                    "--allow-empty"], check=True)
    same = subprocess.run([sys.executable, "scripts/render-diff"], cwd=clone, capture_output=True, text=True)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "21 of 21 rendered scripts identical to HEAD" in same.stdout
    join = clone / "templates/scripts/kubernetes-node-join.sh.j2"
    join.write_text(join.read_text().replace("_role=node\n", "_role=node\n# a changed byte\n"))
    changed = subprocess.run([sys.executable, "scripts/render-diff"], cwd=clone, capture_output=True, text=True)
    assert changed.returncode == 1
    assert "differs: kubernetes-node-join {}" in changed.stdout
    assert "differs: kubernetes-init" not in changed.stdout
