"""A small FAKE ``nuke`` module, written for these tests: it is not Nuke and not derived from it.

It models only what the facewarp plugin uses — nodes holding knobs (dict-like), ``nodes.<Class>``
and ``createNode``, ``toNode``/``allNodes``, knob classes (``Int_Knob`` …), ``menu()`` returning a
recorder, ``pluginAddPath``/``pluginPath``, ``ProgressTask``, ``executeInMainThread`` — and records
every call in ``CALLS`` so tests can see what the plugin asked Nuke for. Install it with
``install()`` (puts it in ``sys.modules["nuke"]``) and ``reset()`` between tests.
"""

from __future__ import annotations

import sys
import threading

CALLS: list[tuple] = []
_NODES: list[Node] = []
_MENUS: dict[str, Menu] = {}
_PLUGIN_PATH: list[str] = []
_SELECTED: list[Node] = []
_LOCK = threading.Lock()
_THIS: list[Node] = []
GET_FILENAME: list[str | None] = [None]  # what getFilename answers


def _record(*call):
    with _LOCK:
        CALLS.append(call)


def reset():
    CALLS.clear()
    _NODES.clear()
    _MENUS.clear()
    _PLUGIN_PATH.clear()
    _SELECTED.clear()
    _THIS.clear()
    _GROUP_STACK.clear()
    ProgressTask.instances.clear()
    GET_FILENAME[0] = None


# -- knobs ---------------------------------------------------------------------------------
class Knob:
    def __init__(self, name, label=None, *args):
        self._name = name
        self._label = label if label is not None else name
        self._value = self._initial()
        self._range = None
        self._tooltip = ""
        self.node = None

    def _initial(self):
        return ""

    def name(self):
        return self._name

    def label(self):
        return self._label

    def Class(self):
        return type(self).__name__

    def value(self, index=None):
        return self._value

    def getValue(self, index=None):
        return self.value(index)

    def setValue(self, value, index=None):
        self._value = value
        return True

    def setRange(self, lo, hi):
        self._range = (lo, hi)

    def range(self):
        return self._range

    def setTooltip(self, text):
        self._tooltip = text

    def tooltip(self):
        return self._tooltip

    def execute(self):
        _record("execute", self.node.name() if self.node else None, self._name)


class String_Knob(Knob):
    pass


class File_Knob(String_Knob):
    pass


class Text_Knob(Knob):
    def __init__(self, name, label=None, text=""):
        super().__init__(name, label)
        self._value = text


class Tab_Knob(Knob):
    pass


class Int_Knob(Knob):
    def _initial(self):
        return 0

    def setValue(self, value, index=None):
        self._value = int(value)
        return True


class Double_Knob(Knob):
    def _initial(self):
        return 0.0

    def setValue(self, value, index=None):
        self._value = float(value)
        return True


class Boolean_Knob(Knob):
    def _initial(self):
        return False

    def setValue(self, value, index=None):
        self._value = bool(value)
        return True


class Enumeration_Knob(Knob):
    def __init__(self, name, label=None, values=()):
        super().__init__(name, label)
        self._values = list(values)
        self._value = self._values[0] if self._values else ""

    def values(self):
        return list(self._values)

    def setValue(self, value, index=None):
        if isinstance(value, int):
            value = self._values[value]
        if value not in self._values:
            raise ValueError(f"{value!r} is not one of {self._values}")
        self._value = value
        return True


class _ArrayKnob(Knob):
    size = 2

    def _initial(self):
        return [0.0] * self.size

    def value(self, index=None):
        return list(self._value) if index is None else self._value[index]

    def setValue(self, value, index=None):
        if index is None:
            if isinstance(value, (list, tuple)):
                self._value = [float(v) for v in value]
            else:
                self._value = [float(value)] * self.size
        else:
            self._value[index] = float(value)
        return True


class XY_Knob(_ArrayKnob):
    size = 2


class XYZ_Knob(_ArrayKnob):
    size = 3


class PyScript_Knob(Knob):
    def __init__(self, name, label=None, command=""):
        super().__init__(name, label)
        self._value = command

    def execute(self):
        _record("execute", self.node.name() if self.node else None, self._name)
        _THIS.append(self.node)
        try:
            exec(self._value, {"nuke": sys.modules[__name__]})
        finally:
            _THIS.pop()


class Channel_Knob(String_Knob):
    """Stands for Nuke's channel-set knobs (STMap/IDistort 'uv', Copy 'from0')."""


# -- nodes ---------------------------------------------------------------------------------
# Knobs each fake node class starts with (only those the plugin touches).
_CLASS_KNOBS = {
    "Read": {"file": File_Knob, "first": Int_Knob, "last": Int_Knob, "origfirst": Int_Knob, "origlast": Int_Knob,
             "raw": Boolean_Knob, "reload": PyScript_Knob},
    "STMap": {"uv": Channel_Knob, "channels": Channel_Knob},
    "IDistort": {"uv": Channel_Knob, "uv_scale": Double_Knob, "channels": Channel_Knob},
    "Copy": {"from0": Channel_Knob, "to0": Channel_Knob, "from1": Channel_Knob, "to1": Channel_Knob},
}
_MAX_INPUTS = {"Read": 0, "Input": 0, "STMap": 2, "Copy": 2, "IDistort": 2, "Group": 1, "Output": 1}


class Node:
    def __init__(self, cls, name=None, inputs=(), **knobs):
        self._class = cls
        self._knobs = {"name": String_Knob("name"), "xpos": Int_Knob("xpos"), "ypos": Int_Knob("ypos")}
        for kname, kcls in _CLASS_KNOBS.get(cls, {}).items():
            self._knobs[kname] = kcls(kname)
            self._knobs[kname].node = self
        count = sum(1 for n in _NODES if n._class == cls) + 1
        self._knobs["name"].setValue(name or f"{cls}{count}")
        self._inputs = {}
        self.children: list[Node] = []
        self.channel_names: list[str] = []  # what channels() answers (tests set it for Reads)
        for i, node in enumerate(inputs):
            self.setInput(i, node)
        for kname, value in knobs.items():
            self[kname].setValue(value)

    def Class(self):
        return self._class

    def name(self):
        return self._knobs["name"].value()

    def setName(self, name):
        self._knobs["name"].setValue(name)

    def knobs(self):
        return dict(self._knobs)

    def knob(self, name):
        return self._knobs.get(name)

    def __getitem__(self, name):
        if name not in self._knobs:
            raise NameError(f"{self.name()} ({self._class}) has no knob '{name}'")  # like Nuke: NameError
        return self._knobs[name]

    def __contains__(self, name):
        return name in self._knobs

    def addKnob(self, knob):
        knob.node = self
        self._knobs[knob.name()] = knob
        _record("addKnob", self.name(), knob.name(), knob.Class())

    def setInput(self, index, node):
        self._inputs[index] = node
        _record("setInput", self.name(), index, node.name() if node is not None else None)
        return True

    def input(self, index):
        return self._inputs.get(index)

    def inputs(self):
        return max(self._inputs) + 1 if self._inputs else 0

    def channels(self):
        return list(self.channel_names)

    def xpos(self):
        return self._knobs["xpos"].value()

    def ypos(self):
        return self._knobs["ypos"].value()

    def setXYpos(self, x, y):
        self._knobs["xpos"].setValue(x)
        self._knobs["ypos"].setValue(y)

    # Group
    def begin(self):
        _GROUP_STACK.append(self)
        return self

    def end(self):
        _GROUP_STACK.pop()

    def __repr__(self):
        return f"<fake {self._class} {self.name()}>"


_GROUP_STACK: list[Node] = []


def createNode(cls, knobs="", inpanel=True):
    _record("createNode", cls)
    return _new(cls)


def _new(cls, **kw):
    node = Node(cls, **kw)
    if _GROUP_STACK:
        _GROUP_STACK[-1].children.append(node)
    else:
        _NODES.append(node)
    _record("node", cls, node.name())
    return node


class _Nodes:
    def __getattr__(self, cls):
        if cls.startswith("_"):
            raise AttributeError(cls)
        return lambda **kw: _new(cls, **kw)


nodes = _Nodes()


def toNode(name):
    return next((n for n in _NODES if n.name() == name), None)


def allNodes(filter=None):
    return [n for n in _NODES if filter is None or n.Class() == filter]


def selectedNode():
    if not _SELECTED:
        raise ValueError("no node selected")
    return _SELECTED[-1]


def selectedNodes():
    return list(_SELECTED)


def select(node):
    """Test helper: select ``node`` (Nuke's users do it by clicking)."""
    _SELECTED.append(node)


def thisNode():
    return _THIS[-1]


class _Root(Node):
    pass


_ROOT = _Root("Root", name="Root")


def root():
    return _ROOT


def getFilename(message, pattern=None):
    _record("getFilename", message)
    return GET_FILENAME[0]


# -- menus ---------------------------------------------------------------------------------
class Menu:
    def __init__(self, name):
        self._name = name
        self.items: dict[str, object] = {}

    def name(self):
        return self._name

    def addMenu(self, name, **kw):
        _record("addMenu", self._name, name)
        sub = self.items.get(name)
        if not isinstance(sub, Menu):
            sub = self.items[name] = Menu(name)
        return sub

    def addCommand(self, name, command=None, shortcut="", **kw):
        """Like Nuke, 'Sub/Item' puts Item in the submenu Sub."""
        _record("addCommand", self._name, name)
        menu = self
        *subs, leaf = name.split("/")
        for sub in subs:
            menu = menu.addMenu(sub)
        menu.items[leaf] = command
        return name

    def findItem(self, name):
        return self.items.get(name)


def menu(name):
    _record("menu", name)
    if name not in _MENUS:
        _MENUS[name] = Menu(name)
    return _MENUS[name]


# -- plugin path, threads, progress ---------------------------------------------------------
def pluginAddPath(path, addToSysPath=True):
    _record("pluginAddPath", path)
    _PLUGIN_PATH.insert(0, path)
    if addToSysPath and path not in sys.path:
        sys.path.insert(0, path)


def pluginPath():
    return list(_PLUGIN_PATH)


def executeInMainThread(call, args=(), kwargs=None):
    """Nuke queues ``call`` for its main thread; the fake runs it at once (and records it)."""
    _record("executeInMainThread", getattr(call, "__name__", repr(call)))
    call(*args, **(kwargs or {}))


class ProgressTask:
    instances: list[ProgressTask] = []

    def __init__(self, title):
        self.title = title
        self.progress: list[int] = []
        self.messages: list[str] = []
        self.cancelled = False
        ProgressTask.instances.append(self)
        _record("ProgressTask", title)

    def setProgress(self, percent):
        self.progress.append(int(percent))

    def setMessage(self, text):
        self.messages.append(text)

    def isCancelled(self):
        return self.cancelled


def install():
    """Put this module in sys.modules['nuke'] (returns it)."""
    module = sys.modules[__name__]
    sys.modules["nuke"] = module
    return module
