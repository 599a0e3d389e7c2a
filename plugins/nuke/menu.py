"""facewarp for Nuke, GUI part: Nuke runs this ``menu.py`` only in GUI sessions (after ``init.py``).

Adds a "facewarp" menu to Nuke's menu bar: "Create/<preset>" for each bundled preset (a facewarp
Group node with the preset's variables as knobs and a Render button), "STMap setup" and
"IDistort setup". Commands are strings that Nuke runs when chosen, so nothing heavy loads here.

Untested in a real Nuke: the tests run it against a fake ``nuke`` module.
"""

import nuke

from facewarp.plugins.nuke import logic

_GLUE = "import facewarp.plugins.nuke.glue as _fw; "


def _add_menu():
    menu = nuke.menu("Nuke").addMenu("facewarp")
    for name in logic.bundled_presets():
        menu.addCommand(f"Create/{name}", _GLUE + f"_fw.create_facewarp_node({name!r})")
    menu.addCommand("STMap setup", _GLUE + "_fw.stmap_setup_dialog()")
    menu.addCommand("IDistort setup", _GLUE + "_fw.idistort_setup_dialog()")
    return menu


_add_menu()
