"""The .pyi stubs of the Cython modules cannot drift from the code (as cytoolz checks its own).

Each stub (`mempool_fast/_core.pyi`, `_transaction.pyi`, `_verify.pyi`) is parsed with `ast`
and compared, for every class, method, property, attribute, module function and constant it
declares:

(a) with the compiled module: names present both ways (everything the stub declares exists;
    every public name of a runtime class, and every name of the module's `__all__`, is in the
    stub), member kinds (method, classmethod, property), and signatures: parameter names,
    order, kinds and defaults, read with `inspect.signature` (the extensions are built with
    `embedsignature=True` and Cython 3 binds its functions, so every `def` is introspectable)
    or, where that fails, from the signature Cython embeds in `__doc__`'s first line;
(b) with the pure-Python twin class (`pure.CoreMempool`, `transaction.PySignedTransaction`):
    the same, plus every annotation the twin writes must equal the stub's (a bare `list` in
    the twin matches the stub's `list[...]`).

So the two implementations and their stubs move together: a method added to one core, a
renamed parameter, a changed default fails here. Half (a) is skipped, saying why, on a
package installed without its extensions (`MEMPOOL_FAST_NO_EXTENSIONS=1`); half (b) always runs.

What cannot be read at run time is listed in `UNINTROSPECTABLE` and `SLOT_ONLY` below, with the
reason, rather than skipped silently.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import nacl.signing
import pytest

import mempool_fast
from mempool_fast import pure, transaction, validation

PACKAGE_DIR = Path(mempool_fast.__file__).resolve().parent
STUBS = ("_core", "_transaction", "_verify")

MISSING = "<no default>"
ELLIPSIS = "<... default>"

#: (module, qualified name): members whose signature Cython does not expose at run time. A
#: `cdef class` built with `__cinit__` and no `__init__` has no embedded constructor signature
#: (inspect sees object's `(*args, **kwargs)`): it is checked against the pure twin only.
UNINTROSPECTABLE = {
    ("_core", "CoreMempool.__init__"),
    ("_verify", "Cursor.__init__"),
}
#: Dunder methods that Cython compiles into C type slots (`__len__`, `__eq__`, ...): their
#: runtime signature is the slot's, fixed by CPython, not the source's; only presence counts.
SLOT_TYPES = ("wrapper_descriptor", "method-wrapper", "slot wrapper")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # inspect.Parameter kind name
    default: Any = MISSING  # MISSING, ELLIPSIS or the literal value
    annotation: str | None = None


@dataclass
class Member:
    name: str
    kind: str  # "method", "classmethod", "staticmethod", "property", "attribute"
    params: list[Param] | None = None
    returns: str | None = None
    settable: bool = False
    annotation: str | None = None  # of an attribute


@dataclass
class StubClass:
    name: str
    members: dict[str, Member] = field(default_factory=dict)


@dataclass
class StubModule:
    classes: dict[str, StubClass] = field(default_factory=dict)
    functions: dict[str, Member] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    all: list[str] | None = None


# -- parsing the stub ----------------------------------------------------------------------------

def _default(node: ast.expr | None) -> Any:
    if node is None:
        return MISSING
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return ELLIPSIS
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ELLIPSIS  # an expression: "has a default", like `...`


def _params(args: ast.arguments) -> list[Param]:
    def ann(a: ast.arg) -> str | None:
        return ast.unparse(a.annotation) if a.annotation is not None else None

    positional = [(a, "POSITIONAL_ONLY") for a in args.posonlyargs] + [
        (a, "POSITIONAL_OR_KEYWORD") for a in args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [Param(a.arg, kind, _default(d), ann(a))
              for (a, kind), d in zip(positional, defaults)]
    if args.vararg is not None:
        params.append(Param(args.vararg.arg, "VAR_POSITIONAL", MISSING, ann(args.vararg)))
    params += [Param(a.arg, "KEYWORD_ONLY", _default(d), ann(a))
               for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg is not None:
        params.append(Param(args.kwarg.arg, "VAR_KEYWORD", MISSING, ann(args.kwarg)))
    return params


def _function(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Member:
    decorators = [ast.unparse(d) for d in node.decorator_list]
    kind = "method"
    if "property" in decorators:
        kind = "property"
    elif "classmethod" in decorators:
        kind = "classmethod"
    elif "staticmethod" in decorators:
        kind = "staticmethod"
    returns = ast.unparse(node.returns) if node.returns is not None else None
    return Member(node.name, kind, _params(node.args), returns)


def parse_stub(text: str) -> StubModule:
    """The classes, functions, constants and `__all__` a stub declares."""
    module = StubModule()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef):
            cls = module.classes[node.name] = StubClass(node.name)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    decorators = [ast.unparse(d) for d in item.decorator_list]
                    if f"{item.name}.setter" in decorators:
                        cls.members[item.name].settable = True
                        continue
                    cls.members[item.name] = _function(item)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    cls.members[item.target.id] = Member(
                        item.target.id, "attribute", annotation=ast.unparse(item.annotation))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            module.functions[node.name] = _function(node)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            module.constants[node.target.id] = ast.unparse(node.annotation)
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "__all__"):
            module.all = list(ast.literal_eval(node.value))
    return module


# -- reading signatures at run time -------------------------------------------------------------

def _split_top_level(text: str) -> list[str]:
    """`text` split at the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


_DOC_SIGNATURE = re.compile(r"^[\w.]+\((?P<args>.*)\)(\s*->\s*.+)?$")


def doc_signature(doc: str | None) -> list[Param] | None:
    """The parameters of the signature Cython embeds as a docstring's first line
    (`name(self, int a, b=1, *, c=None)`: C types before a name are dropped), or None."""
    if not doc:
        return None
    match = _DOC_SIGNATURE.match(doc.splitlines()[0].strip())
    if match is None:
        return None
    params: list[Param] = []
    kind = "POSITIONAL_OR_KEYWORD"
    for part in _split_top_level(match["args"]):
        if part == "*":
            kind = "KEYWORD_ONLY"
            continue
        if part == "/":
            params = [Param(p.name, "POSITIONAL_ONLY", p.default) for p in params]
            continue
        if part.startswith("**"):
            params.append(Param(part[2:].split()[-1], "VAR_KEYWORD"))
            continue
        if part.startswith("*"):
            params.append(Param(part[1:].split()[-1], "VAR_POSITIONAL"))
            kind = "KEYWORD_ONLY"
            continue
        decl, _, default_text = part.partition("=")
        name = re.findall(r"\w+", decl.replace(" not None", ""))[-1]
        default: Any = MISSING
        if default_text:
            try:
                default = ast.literal_eval(default_text.strip())
            except (ValueError, SyntaxError):
                default = ELLIPSIS
        params.append(Param(name, kind, default))
    return params


def _from_signature(sig: inspect.Signature) -> list[Param]:
    def ann(a: Any) -> str | None:
        if a is inspect.Parameter.empty:
            return None
        return a if isinstance(a, str) else inspect.formatannotation(a)

    return [Param(p.name, p.kind.name,
                  MISSING if p.default is inspect.Parameter.empty else p.default,
                  ann(p.annotation))
            for p in sig.parameters.values()]


def runtime_params(func: Any) -> list[Param] | None:
    """`func`'s parameters by `inspect.signature`, else from its embedded signature."""
    try:
        return _from_signature(inspect.signature(func))
    except (TypeError, ValueError):
        return doc_signature(getattr(func, "__doc__", None))


def _is_slot(obj: Any) -> bool:
    return type(obj).__name__ in SLOT_TYPES


def _runtime_kind(raw: Any) -> str:
    if isinstance(raw, classmethod):
        return "classmethod"
    if isinstance(raw, staticmethod):
        return "staticmethod"
    if isinstance(raw, property) or inspect.isdatadescriptor(raw):
        return "property"
    if callable(raw):
        return "method"
    return "attribute"


def _unwrap(raw: Any) -> Any:
    return raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw


def _public_names(cls: type, instance: Any = None) -> set[str]:
    names = {n for n in dir(cls) if not n.startswith("_")}
    if instance is not None and hasattr(instance, "__dict__"):
        names |= {n for n in vars(instance) if not n.startswith("_")}
    return names


def _defined(cls: type, name: str) -> bool:
    """Whether `cls` (not `object`) defines `name`."""
    return any(name in vars(k) for k in cls.__mro__ if k is not object)


# -- annotations ---------------------------------------------------------------------------------

class _Rename(ast.NodeTransformer):
    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.aliases.get(node.id, node.id), node.ctx)


def _normal(annotation: str, aliases: dict[str, str]) -> ast.expr:
    tree = ast.parse(annotation, mode="eval").body
    if isinstance(tree, ast.Constant) and isinstance(tree.value, str):  # a quoted forward ref
        tree = ast.parse(tree.value, mode="eval").body
    return _Rename(aliases).visit(tree)


def annotations_agree(stub: str, twin: str, aliases: dict[str, str]) -> bool:
    """Whether the twin's annotation says what the stub's does (or less, by a bare generic:
    `list` for `list[X]`)."""
    s, t = _normal(stub, aliases), _normal(twin, aliases)
    if ast.dump(s) == ast.dump(t):
        return True
    return (isinstance(t, ast.Name) and isinstance(s, ast.Subscript)
            and isinstance(s.value, ast.Name) and s.value.id == t.id)


# -- comparisons ---------------------------------------------------------------------------------

_KIND_MARKS = {"POSITIONAL_ONLY": "{}/", "POSITIONAL_OR_KEYWORD": "{}", "VAR_POSITIONAL": "*{}",
               "KEYWORD_ONLY": "kw:{}", "VAR_KEYWORD": "**{}"}


def _describe(params: list[Param]) -> str:
    """`(a, b/, c=, kw:d)`: `/` positional-only, `kw:` keyword-only, `=` has a default."""
    return "(" + ", ".join(_KIND_MARKS[p.kind].format(p.name)
                           + ("" if p.default == MISSING else "=") for p in params) + ")"


def compare_params(where: str, stub: list[Param], other: list[Param], *, kinds: bool = True,
                   aliases: dict[str, str] | None = None) -> list[str]:
    """Problems between the stub's parameters and another implementation's: names and order,
    kinds (unless `kinds` is False), defaults, and (with `aliases`) annotations."""
    if [p.name for p in stub] != [p.name for p in other]:
        return [f"{where}: parameters differ: stub {_describe(stub)} vs {_describe(other)}"]
    problems = []
    for s, o in zip(stub, other):
        if kinds and s.kind != o.kind:
            problems.append(f"{where}: parameter {s.name!r} is {s.kind} in the stub, {o.kind}")
        if s.default == MISSING or o.default == MISSING:
            if s.default != o.default:
                problems.append(f"{where}: parameter {s.name!r} default: stub "
                                f"{s.default!r} vs {o.default!r}")
        elif s.default != ELLIPSIS and o.default != ELLIPSIS and (
                type(s.default) is not type(o.default) or s.default != o.default):
            problems.append(f"{where}: parameter {s.name!r} default: stub {s.default!r} vs "
                            f"{o.default!r}")
        if aliases is not None and s.annotation and o.annotation and not annotations_agree(
                s.annotation, o.annotation, aliases):
            problems.append(f"{where}: parameter {s.name!r} annotation: stub {s.annotation!r} "
                            f"vs {o.annotation!r}")
    return problems


def untyped(stub: StubModule) -> list[str]:
    """Every parameter (but self and cls) and return without an annotation."""
    problems = []
    members = [(f"{c.name}.", m) for c in stub.classes.values() for m in c.members.values()]
    members += [("", f) for f in stub.functions.values()]
    for prefix, member in members:
        if member.params is None:
            continue
        for i, p in enumerate(member.params):
            if p.annotation is None and not (i == 0 and prefix and p.name in ("self", "cls")):
                problems.append(f"{prefix}{member.name}: parameter {p.name!r} is not annotated")
        if member.returns is None:
            problems.append(f"{prefix}{member.name}: no return annotation")
    return problems


def compare_class(module_name: str, stub: StubClass, cls: type, *, twin: bool = False,
                  instance: Any = None, aliases: dict[str, str] | None = None) -> list[str]:
    """Problems between a stub class and a runtime class: the compiled one (`twin=False`) or
    its pure-Python twin (`twin=True`: annotations compared too, `aliases` renaming the twin's
    names to the stub's)."""
    what = f"{'pure ' if twin else ''}{cls.__module__}.{cls.__qualname__}"
    problems = []
    for name in sorted(_public_names(cls, instance) - set(stub.members)):
        problems.append(f"{what}.{name} is not in the stub {module_name}.pyi")
    for name, member in stub.members.items():
        where = f"{what}.{name}"
        if name == "__init__":
            problems += _compare_constructor(module_name, stub, member, cls, where, twin,
                                             aliases)
            continue
        if member.kind == "attribute":
            if not (hasattr(cls, name) or (instance is not None and hasattr(instance, name))):
                problems.append(f"{where}: the stub's attribute is missing")
            continue
        if name.startswith("__") and not _defined(cls, name) or not hasattr(cls, name):
            problems.append(f"{where}: declared in the stub, missing")
            continue
        raw = inspect.getattr_static(cls, name)
        kind = _runtime_kind(raw)
        if member.kind == "property":
            if kind != "property":
                problems.append(f"{where}: a property in the stub, a {kind}")
            elif isinstance(raw, property) and bool(raw.fset) != member.settable:
                problems.append(f"{where}: settable {member.settable} in the stub, "
                                f"{bool(raw.fset)}")
            if twin and isinstance(raw, property) and member.returns:
                returns = inspect.signature(raw.fget).return_annotation
                if isinstance(returns, str) and not annotations_agree(member.returns, returns,
                                                                      aliases or {}):
                    problems.append(f"{where}: type {member.returns!r} in the stub, {returns!r}")
            continue
        if kind != member.kind:
            problems.append(f"{where}: a {member.kind} in the stub, a {kind}")
            continue
        if _is_slot(raw):
            continue
        params = runtime_params(_unwrap(raw))
        if params is None:
            if (module_name, f"{stub.name}.{name}") not in UNINTROSPECTABLE:
                problems.append(f"{where}: no signature at run time")
            continue
        problems += compare_params(where, member.params or [], params,
                                   aliases=aliases if twin else None)
        if twin and member.returns:
            returns = inspect.signature(_unwrap(raw)).return_annotation
            if isinstance(returns, str) and not annotations_agree(member.returns, returns,
                                                                  aliases or {}):
                problems.append(f"{where}: returns {member.returns!r} in the stub, {returns!r}")
    return problems


def _compare_constructor(module_name: str, stub: StubClass, member: Member, cls: type,
                         where: str, twin: bool,
                         aliases: dict[str, str] | None) -> list[str]:
    init = inspect.getattr_static(cls, "__init__")
    if not _is_slot(init) or twin:
        return compare_params(where, member.params or [], runtime_params(init) or [],
                              aliases=aliases if twin else None)
    # A cdef class: Cython embeds the constructor's signature in the class docstring, without
    # `self`. Its `*` is placed one parameter too late there (Cython 3.x counts `self` when it
    # places the marker: `__init__(self, *, a, b)` is written `(a, *, b)`), so kinds are not
    # compared; names, order and defaults are.
    params = doc_signature(cls.__doc__) if cls.__doc__ and cls.__doc__.startswith(
        f"{cls.__name__}(") else None
    if params is None:
        if (module_name, f"{stub.name}.__init__") in UNINTROSPECTABLE:
            return []
        return [f"{where}: no constructor signature at run time"]
    return compare_params(where, (member.params or [])[1:], params, kinds=False)


def _value_matches(value: Any, annotation: ast.expr) -> bool:
    """A shallow run-time check of a constant against a simple annotation (unknown: True)."""
    simple = {"int": int, "str": str, "bytes": bytes, "float": float, "bool": bool}
    if isinstance(annotation, ast.Name):
        kind = simple.get(annotation.id)
        return kind is None or (isinstance(value, kind)
                                and (kind is not int or not isinstance(value, bool)))
    if (isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name)
            and annotation.value.id == "tuple"):
        if not isinstance(value, tuple):
            return False
        args = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [
            annotation.slice]
        if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
            return all(_value_matches(v, args[0]) for v in value)
        return len(args) == len(value) and all(map(_value_matches, value, args))
    return True


def compare_module(module_name: str, stub: StubModule, module: ModuleType) -> list[str]:
    """Problems between a stub and the compiled module: its `__all__`, module functions and
    constants, and every class (against the compiled class)."""
    problems = []
    runtime_all = list(getattr(module, "__all__", []))
    if stub.all is not None and sorted(stub.all) != sorted(runtime_all):
        problems.append(f"{module_name}: __all__ {sorted(stub.all)} in the stub, "
                        f"{sorted(runtime_all)}")
    declared = set(stub.classes) | set(stub.functions) | set(stub.constants)
    for name in sorted(set(runtime_all) - declared):
        problems.append(f"{module_name}.{name} is exported but not in the stub")
    for name, annotation in stub.constants.items():
        if not hasattr(module, name):
            problems.append(f"{module_name}.{name}: declared in the stub, missing")
        elif not _value_matches(getattr(module, name), ast.parse(annotation, mode="eval").body):
            problems.append(f"{module_name}.{name}: {getattr(module, name)!r} is not "
                            f"{annotation}")
    for name, func in stub.functions.items():
        obj = getattr(module, name, None)
        if obj is None or not callable(obj):
            problems.append(f"{module_name}.{name}: declared in the stub, missing")
            continue
        params = runtime_params(obj)
        if params is None:
            problems.append(f"{module_name}.{name}: no signature at run time")
            continue
        problems += compare_params(f"{module_name}.{name}", func.params or [], params)
    for name, stub_cls in stub.classes.items():
        cls = getattr(module, name, None)
        if not isinstance(cls, type):
            problems.append(f"{module_name}.{name}: declared in the stub, missing")
            continue
        problems += compare_class(module_name, stub_cls, cls)
    return problems


# -- the twins -----------------------------------------------------------------------------------

def _pure_core() -> Any:
    return pure.CoreMempool()


def _pure_transaction() -> Any:
    return transaction.PySignedTransaction.create(nacl.signing.SigningKey(b"\1" * 32), 0)


#: stub -> {stub class: (pure twin class, an instance factory, twin name -> stub name)}
TWINS: dict[str, dict[str, tuple[type, Any, dict[str, str]]]] = {
    "_core": {"CoreMempool": (pure.CoreMempool, _pure_core, {})},
    "_transaction": {"SignedTransaction": (
        transaction.PySignedTransaction, _pure_transaction,
        {"PySignedTransaction": "SignedTransaction"})},
    # _verify's functions have no pure function of the same surface: the pure path verifies
    # inside validation.PurePythonValidator (test_validators_are_twins below).
    "_verify": {},
}


def twin_problems(module_name: str, stub: StubModule) -> list[str]:
    """Problems between a stub and the pure-Python twins of its classes."""
    problems = []
    for name, (twin, factory, aliases) in TWINS[module_name].items():
        if name not in stub.classes:
            problems.append(f"{module_name}.pyi: class {name} is missing")
            continue
        problems += compare_class(module_name, stub.classes[name], twin, twin=True,
                                  instance=factory(), aliases=aliases)
    return problems


def stub_problems(module_name: str, text: str, *, runtime: ModuleType | None) -> list[str]:
    """Every problem of a stub's text: untyped declarations, the pure twins, and (with the
    compiled `runtime` module) the compiled module."""
    stub = parse_stub(text)
    problems = untyped(stub) + twin_problems(module_name, stub)
    if runtime is not None:
        problems += compare_module(module_name, stub, runtime)
    return problems


def _stub_text(module_name: str) -> str:
    path = PACKAGE_DIR / f"{module_name}.pyi"
    assert path.exists(), f"{path} is missing: the package ships its stubs (package-data)"
    return path.read_text()


def _compiled(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(f"mempool_fast.{module_name}")
    except ImportError as exc:
        pytest.skip(f"mempool_fast.{module_name} is not built (a MEMPOOL_FAST_NO_EXTENSIONS=1 "
                    f"or pure-Python fallback install: {exc}); the stub is checked against the "
                    "pure twin only")


# -- the tests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("module_name", STUBS)
def test_stub_is_fully_typed(module_name):
    assert untyped(parse_stub(_stub_text(module_name))) == []


@pytest.mark.parametrize("module_name", STUBS)
def test_stub_matches_the_pure_twin(module_name):
    assert twin_problems(module_name, parse_stub(_stub_text(module_name))) == []


@pytest.mark.parametrize("module_name", STUBS)
def test_stub_matches_the_compiled_module(module_name):
    module = _compiled(module_name)
    assert compare_module(module_name, parse_stub(_stub_text(module_name)), module) == []


@pytest.mark.parametrize("module_name", STUBS)
def test_embedded_signatures_parse_like_inspect(module_name):
    """The docstring fallback reads what inspect.signature reads wherever both work."""
    module = _compiled(module_name)
    functions = [obj for obj in vars(module).values()
                 if type(obj).__name__ == "cython_function_or_method"]
    for cls in (obj for obj in vars(module).values()
                if isinstance(obj, type) and obj.__module__ == module.__name__):
        functions += [_unwrap(raw) for raw in vars(cls).values()
                      if type(_unwrap(raw)).__name__ == "cython_function_or_method"]
    assert functions
    for func in functions:
        from_doc = doc_signature(func.__doc__)
        assert from_doc is not None, func
        assert compare_params(func.__qualname__, from_doc, runtime_params(func) or []) == []


def test_the_cython_constructors_are_checked_where_cython_says_them():
    module = _compiled("_transaction")
    assert doc_signature(module.SignedTransaction.__doc__) is not None
    stub = parse_stub(_stub_text("_transaction")).classes["SignedTransaction"]
    altered = StubClass(stub.name, dict(stub.members))
    init = altered.members["__init__"]
    assert init.params is not None
    altered.members["__init__"] = Member("__init__", "method",
                                         [p for p in init.params if p.name != "payload"],
                                         init.returns)
    assert any("parameters differ" in p
               for p in compare_class("_transaction", altered, module.SignedTransaction))


# Each alteration: the stub, the text replaced (once), its replacement, and which halves must
# notice ("twin", "runtime").
ALTERATIONS = [
    ("_core", "db_sequence_number: int,", "db_seq: int,", {"twin", "runtime"}),
    ("_core", "def gc_by_system_ttl(self, limit: int | None = None)",
     "def gc_by_system_ttl(self, limit: int | None = 0)", {"twin", "runtime"}),
    ("_core", "*, removal_feed: bool = False", "removal_feed: bool = False", {"twin"}),
    ("_core", "    def account_count(self) -> int: ...\n", "", {"twin", "runtime"}),
    ("_core", "    def _check(self) -> None: ...\n",
     "    def _check(self) -> None: ...\n    def flush(self) -> None: ...\n",
     {"twin", "runtime"}),
    ("_core", "def parking_lot_size(self) -> int", "def parking_lot_size(self) -> str",
     {"twin"}),
    ("_core", "is_rejected: bool)", "is_rejected: bool = False)", {"twin", "runtime"}),
    ("_core", "def health_check(self)", "def health_check(self, strict: bool)",
     {"twin", "runtime"}),
    ("_core", "def get_by_hash(self, hash: bytes)", "def get_by_hash(self, hash: str)",
     {"twin"}),
    ("_transaction", "sequence_number: int, *,\n", "sequence_number: int,\n",
     {"twin", "runtime"}),
    ("_transaction", "@property\n    def hash(self)", "def hash(self)", {"twin", "runtime"}),
    ("_transaction", "def from_bytes(cls,", "def from_bytes(self,", {"twin", "runtime"}),
    ("_transaction", "@classmethod\n    def from_bytes", "@staticmethod\n    def from_bytes",
     {"twin", "runtime"}),
    ("_transaction", "max_gas_amount: int = 1_000_000", "max_gas_amount: int = 1_000",
     {"twin", "runtime"}),
    ("_transaction", "public_key: bytes, signature: bytes) -> None",
     "public_key: bytes) -> None", {"twin", "runtime"}),
    ("_transaction", "    @property\n    def signature(self) -> bytes: ...\n", "",
     {"twin", "runtime"}),
    ("_verify", "start: int = 0", "begin: int = 0", {"runtime"}),
    ("_verify", "*, route: str | None = None) -> bytearray",
     "route: str | None = None) -> bytearray", {"runtime"}),
    ("_verify", "DEFAULT_ROUTE: str", "DEFAULT_ROUTE: int", {"runtime"}),
    ("_verify", "SIGNING_PREFIX: bytes\n", "SIGNING_PREFIX: bytes\nMAX_BATCH: int\n",
     {"runtime"}),
    ("_verify", '"verify", "verify_message"]', '"verify"]', {"runtime"}),
]


def _altered(module_name: str, old: str, new: str) -> str:
    text = _stub_text(module_name)
    assert text.count(old) == 1, f"the alteration's text is not in {module_name}.pyi once"
    assert stub_problems(module_name, text, runtime=None) == []
    return text.replace(old, new)


def _alterations(half: str) -> Any:
    cases = [(m, o, n) for m, o, n, halves in ALTERATIONS if half in halves]
    return pytest.mark.parametrize("module_name, old, new", cases,
                                   ids=[f"{m}:{o.strip()[:40]}" for m, o, _ in cases])


@_alterations("twin")
def test_an_altered_stub_fails_against_the_pure_twin(module_name, old, new):
    altered = _altered(module_name, old, new)
    assert stub_problems(module_name, altered, runtime=None), "the pure twin missed it"


@_alterations("runtime")
def test_an_altered_stub_fails_against_the_compiled_module(module_name, old, new):
    altered = _altered(module_name, old, new)
    module = _compiled(module_name)
    assert compare_module(module_name, parse_stub(altered), module), "the compiled module missed it"


def test_an_unannotated_stub_fails():
    text = _stub_text("_core").replace("def timeline_size(self) -> int:",
                                       "def timeline_size(self):")
    assert untyped(parse_stub(text)) == ["CoreMempool.timeline_size: no return annotation"]
    text = _stub_text("_verify").replace("wires: Sequence[bytes], *,", "wires, *,")
    assert untyped(parse_stub(text)) == ["verify: parameter 'wires' is not annotated"]


def _surface(cls: type) -> dict[str, list[Param] | str]:
    surface: dict[str, list[Param] | str] = {}
    for name in _public_names(cls) | {"__init__", "__enter__", "__exit__"}:
        raw = inspect.getattr_static(cls, name)
        kind = _runtime_kind(raw)
        surface[name] = _from_signature(inspect.signature(_unwrap(raw))) if kind in (
            "method", "classmethod", "staticmethod") else kind
    return surface


def test_validators_are_twins():
    """The batch validator (over `_verify`) and the pure one share one surface; the batch one
    adds only its `route` keyword (which libsodium entry point, `_verify.ROUTES`)."""
    batch = _surface(validation.BatchValidator)
    pure_surface = _surface(validation.PurePythonValidator)
    init = batch.pop("__init__")
    assert isinstance(init, list)
    batch_init = [p for p in init if p.name != "route"]
    assert [p.name for p in init if p.kind == "KEYWORD_ONLY"][-1] == "route"
    assert compare_params("validator __init__", batch_init, pure_surface.pop("__init__"),
                          aliases={}) == []
    assert set(batch) - {"route"} == set(pure_surface)
    for name, value in pure_surface.items():
        if isinstance(value, list):
            assert compare_params(name, value, batch[name], aliases={}) == [], name
        else:
            assert batch[name] == value, name
