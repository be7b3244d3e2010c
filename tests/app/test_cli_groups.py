"""The command line on layered files with groups: `info` shows the tree,
`apply` keeps it."""

import json

import numpy as np

from tests.helpers import io_corpus as corpus
from warpaint.app.cli import main
from warpaint.engine.io import read_ora


def _run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_shows_the_tree_top_first(tmp_path, capsys):
    path = corpus.krita_style_ora(tmp_path / "k.ora")
    code, out, _ = _run(["info", path, "--json"], capsys)
    assert code == 0
    tree = json.loads(out)["tree"]
    assert [node.get("group") or node["name"] for node in tree] == [
        "Group 1",
        "Paint",
        "Background",
    ]
    group = tree[0]
    assert (group["visible"], group["isolated"], group["blend_mode"]) == (False, True, "normal")
    assert [child["name"] for child in group["children"]] == ["Dodge"]
    assert group["children"][0]["blend_mode"] == "color-dodge"


def test_info_prints_group_children_indented(tmp_path, capsys):
    code, out, _ = _run(["info", corpus.krita_style_ora(tmp_path / "k.ora")], capsys)
    assert code == 0
    lines = [line for line in out.splitlines() if line.lstrip().startswith("- ")]
    assert lines[0].startswith("  - group=Group 1")
    assert lines[1].startswith("    - name=Dodge")
    assert lines[2].startswith("  - name=Paint")


def test_apply_on_a_layer_inside_a_group_keeps_the_structure(tmp_path, capsys):
    path = corpus.krita_style_ora(tmp_path / "k.ora")
    out = tmp_path / "out.ora"
    code, _, err = _run(
        ["apply", "gaussian-blur", path, "-o", out, "--layer", "Dodge", "--set", "sigma=1"], capsys
    )
    assert code == 0, err
    before, after = read_ora(path), read_ora(out)
    group = after.root[-1]
    assert group.name == "Group 1" and not group.visible
    names = [n.name for n in group.children]
    assert names[0] == "Dodge" and len(names) == 2  # the result lies above, in the group
    assert [n.name for n in after.root[:-1]] == [n.name for n in before.root[:-1]]
    dodge = group.children[0]
    np.testing.assert_array_equal(
        dodge.pixels.to_array(), before.root[-1].children[0].pixels.to_array()
    )
