"""DSPy 3.4.1's own SIMBA decision code, taken out of its source so it can run
on chosen inputs.

SIMBA keeps most of its decisions inside `SIMBA.compile` (nested functions
and inline statements), where nothing can call them. Rather than restating
them here (which would only check our reading of DSPy), this module parses
the installed `dspy/teleprompt/simba.py`, picks the statements by their text
and runs them in a namespace holding the inputs. If DSPy's code no longer
has one of them, the lookup fails loudly.
"""

import ast
import inspect
import textwrap

from dspy.teleprompt.simba import SIMBA


def _compile_body():
    source = textwrap.dedent(inspect.getsource(SIMBA.compile))
    return ast.parse(source).body[0]


def _statements(tree):
    """Every statement under `tree`, depth first, in source order."""
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            yield node


def _find(starts):
    """The first statement of `SIMBA.compile` whose text starts with `starts`."""
    for stmt in _statements(_compile_body()):
        if ast.unparse(stmt).startswith(starts):
            return stmt
    raise LookupError(f"DSPy's SIMBA.compile has no statement starting with {starts!r}")


def _run(statements, namespace):
    module = ast.Module(body=list(statements), type_ignores=[])
    exec(compile(ast.fix_missing_locations(module), "<dspy SIMBA.compile>", "exec"), namespace)
    return namespace


def run_statements(starts_list, namespace):
    """Runs the statements named by their starts, in order, in `namespace`."""
    return _run([_find(s) for s in starts_list], namespace)


def nested_function(name, namespace):
    """A function defined inside `SIMBA.compile`, bound to `namespace`."""
    for stmt in _statements(_compile_body()):
        if isinstance(stmt, ast.FunctionDef) and stmt.name == name:
            return _run([stmt], namespace)[name]
    raise LookupError(f"DSPy's SIMBA.compile defines no function {name!r}")
