"""Problems the user brings: `--problem FILE.py:NAME` or `--problem package.module:NAME`.

NAME is a factory called as NAME(dtype, device, seed, **params), each param a keyword argument it
declares with a default (so `--param n=1000` reaches it), returning one of

    (loss, x) or (loss, x, reference)   a function of one tensor; reference: its exact gradient
    ModuleProblem(module, loss_fn, batch)   an nn.Module, differentiated w.r.t. all its parameters
    OdeProblem(vector_field, x0, times, loss, theta)   an ODE, every ODE strategy applies

The user's code is imported only when a --problem names it. Without a given reference the
reference is the float64 gradient (reverse mode; an ODE: a tight dopri5 solve), and any reference,
given or computed, is checked against float64 finite differences along random directions before
it is trusted: one that disagrees is reported in the run's info and no errors are computed.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gradcmp.config import ConfigError, Param
from gradcmp.problems.base import Instance, Problem, ode_instance

# The reference check: this many random directions, finite differences agreeing to this fraction of |g| |u|.
CHECK_DIRECTIONS = 3
CHECK_TOLERANCE = 1e-5


@dataclass
class ModuleProblem:
    """A torch nn.Module and its loss: loss_fn(module, batch) -> scalar, differentiated with respect to
    every parameter of `module` at once, as one flat vector (the built-in mlp problem's layout)."""

    module: Any
    loss_fn: Callable[[Any, Any], Any]
    batch: Any


@dataclass
class OdeProblem:
    """dx/dt = vector_field(t, x, theta) from x0, observed at `times` (t_0 < ... < t_K, x(t_0) = x0);
    J = loss(states), states stacked (K+1, *x0.shape); theta is differentiated."""

    vector_field: Callable
    x0: Any
    times: Any
    loss: Callable
    theta: Any


def is_user_problem(name: str) -> bool:
    return ":" in name


def _load_factory(spec: str) -> Callable:
    """The object FILE.py:NAME or package.module:NAME names (importing the user's code)."""
    where, _, attribute = spec.rpartition(":")
    if not where or not attribute:
        raise ConfigError(f"{spec}: expected FILE.py:NAME or package.module:NAME")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ConfigError(f"{where}: no such file (give the path of a Python file, then :NAME)")
        module_name = f"gradcmp_user_{abs(hash(str(path.resolve())))}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as error:
            raise ConfigError(f"{where}: importing it raised {type(error).__name__}: {error}") from None
    else:
        try:
            module = importlib.import_module(where)
        except Exception as error:
            raise ConfigError(f"{where}: cannot import it ({type(error).__name__}: {error}); "
                              "is it installed or on PYTHONPATH?") from None
    if not hasattr(module, attribute):
        raise ConfigError(f"{where}: has no {attribute!r}; define a factory "
                          f"{attribute}(dtype, device, seed) returning (loss, x)")
    factory = getattr(module, attribute)
    if not callable(factory):
        raise ConfigError(f"{where}: {attribute} is not a function; make it a factory (dtype, device, seed)")
    return factory


def _declared_params(spec: str, factory) -> tuple[Param, ...]:
    """The keyword arguments after (dtype, device, seed), each with its default, as declared."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return ()
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 3 and not any(p.kind is p.VAR_POSITIONAL for p in parameters):
        raise ConfigError(f"{spec}: the factory must take (dtype, device, seed), "
                          f"it takes ({', '.join(p.name for p in positional)})")
    declared = []
    for parameter in parameters[3:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is parameter.empty or type(parameter.default) not in (int, float, str, bool):
            raise ConfigError(f"{spec}: give {parameter.name} a default number, string or bool "
                              "(it becomes a param set with --param)")
        declared.append(Param(parameter.name, parameter.default, "declared by the factory"))
    return tuple(declared)


def _call(spec: str, factory, dtype, device, seed, kwargs):
    try:
        return factory(dtype, device, seed, **kwargs)
    except Exception as error:
        raise ConfigError(f"{spec}: the factory raised {type(error).__name__}: {error}") from None


def _module_function(spec: str, made: ModuleProblem):
    """(loss of the flat parameter vector, that vector) for a ModuleProblem."""
    import torch
    from torch.func import functional_call

    names, shapes, sizes = [], [], []
    for name, parameter in made.module.named_parameters():
        names.append(name)
        shapes.append(parameter.shape)
        sizes.append(parameter.numel())
    if not names:
        raise ConfigError(f"{spec}: the module has no parameters to differentiate")
    flat = torch.cat([parameter.detach().reshape(-1) for parameter in made.module.parameters()])

    def loss(theta):
        params = {name: piece.view(shape) for name, piece, shape in zip(names, theta.split(sizes), shapes)}
        return made.loss_fn(lambda *args, **kwargs: functional_call(made.module, params, args, kwargs),
                            made.batch)

    return loss, flat


def _ode_system(spec: str, made: OdeProblem, params: dict):
    from gradcmp.ode.system import OdeSystem, SolverOptions

    times = tuple(float(t) for t in made.times)
    if len(times) < 2 or any(b <= a for a, b in zip(times, times[1:])):
        raise ConfigError(f"{spec}: OdeProblem times must increase, at least two of them, got {times}")
    return OdeSystem(vector_field=made.vector_field, x0=made.x0, times=times, terminal_loss=made.loss,
                     options=SolverOptions.from_params(params))


def _check_function(spec: str, loss, x):
    """One line naming what is wrong with (loss, x), or the loss's value."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{spec}: x must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ConfigError(f"{spec}: x must have a floating dtype (make it with dtype=dtype), got {x.dtype}")
    if not callable(loss):
        raise ConfigError(f"{spec}: loss must be a function of x, got {type(loss).__name__}")
    leaf = x.detach().requires_grad_(True)
    try:
        value = loss(leaf)
    except Exception as error:
        raise ConfigError(f"{spec}: loss(x) raised {type(error).__name__}: {error}") from None
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ConfigError(f"{spec}: loss(x) must return a scalar tensor, got {shape}; reduce it (.sum(), .mean())")
    if not value.requires_grad:
        raise ConfigError(f"{spec}: loss(x) does not depend on x through torch operations; "
                          "compute it from x with torch")


def _pieces(spec: str, made, params: dict) -> tuple[str, Callable, Any, Any, Any]:
    """(kind, loss, x, given reference or None, the ODE system or None) of what the factory returned."""
    if isinstance(made, ModuleProblem):
        loss, x = _module_function(spec, made)
        return "module", loss, x, None, None
    if isinstance(made, OdeProblem):
        system = _ode_system(spec, made, params)
        return "ode", system.objective, made.theta, None, system
    if isinstance(made, tuple) and len(made) in (2, 3):
        loss, x, *given = made
        return "function", loss, x, (given[0] if given else None), None
    raise ConfigError(f"{spec}: the factory must return (loss, x), (loss, x, reference), a ModuleProblem "
                      f"or an OdeProblem; it returned {type(made).__name__}"
                      + (f" of length {len(made)}" if isinstance(made, tuple) else ""))


def disagreement(loss, x, gradient, seed: int = 0) -> float:
    """max over random unit directions u of |(L(x + h u) - L(x - h u)) / 2h - g.u| / |g|, in float64 on
    the CPU: an independent check of a gradient (central differences, h = eps^(1/3) max(1, |x|_inf))."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    scale = gradient.norm().item() or 1.0
    step = torch.finfo(torch.float64).eps ** (1 / 3) * max(1.0, x.abs().max().item())
    worst = 0.0
    with torch.no_grad():
        for _ in range(CHECK_DIRECTIONS):
            u = torch.randn(x.shape, generator=generator, dtype=torch.float64)
            u /= u.norm()
            finite = (loss(x + step * u) - loss(x - step * u)).item() / (2 * step)
            worst = max(worst, abs(finite - (gradient * u).sum().item()) / scale)
    return worst


def _reference(spec: str, kind: str, loss64, x64, given, system64) -> tuple[Any, str]:
    """(the float64 reference gradient, or None when it failed its check, and how it was obtained)."""
    import torch

    from gradcmp.ode.system import REFERENCE_TOLERANCE, reference_gradient

    try:
        if given is not None:
            if not isinstance(given, torch.Tensor) or given.numel() != x64.numel():
                raise ConfigError(f"{spec}: the reference must be a tensor shaped like x {tuple(x64.shape)}")
            gradient, name = given.detach().to("cpu", torch.float64).reshape(x64.shape), "given"
        elif kind == "ode":
            gradient = reference_gradient(system64, x64)
            name = f"float64 dopri5 rtol=atol={REFERENCE_TOLERANCE:g}"
        else:
            leaf = x64.detach().requires_grad_(True)
            (gradient,) = torch.autograd.grad(loss64(leaf), leaf)
            name = "float64 vjp"
        off = disagreement(loss64, x64, gradient)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"{spec}: computing the float64 reference raised {type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''}") from None
    if not off <= CHECK_TOLERANCE:
        return None, (f"{name} NOT USED: it disagrees with float64 finite differences by {off:.1e} "
                      "(relative) along a random direction")
    return gradient, name


def _build(spec: str, factory, declared: frozenset[str], params: dict, dtype, device, seed) -> Instance:
    """The Instance of one configuration; the reference from a float64 CPU build at the same x."""
    import torch

    kwargs = {name: value for name, value in params.items() if name in declared}
    kind, loss, x, given, system = _pieces(spec, _call(spec, factory, dtype, device, seed, kwargs), params)
    _check_function(spec, loss, x)
    if dtype == torch.float64 and torch.device(device).type == "cpu":
        loss64, system64 = loss, system
    else:  # the float64 twin's data (batch, x0, ...), evaluated at the run's x cast up
        _, loss64, _, _, system64 = _pieces(
            spec, _call(spec, factory, torch.float64, torch.device("cpu"), seed, kwargs), params)
    reference, how = _reference(spec, kind, loss64, x.detach().to("cpu", torch.float64), given, system64)
    shape = f" ({' x '.join(map(str, x.shape))})" if x.dim() > 1 else ""
    info = {"reference": how, "x": f"{x.numel()} entries{shape}"}
    if kind == "ode":
        return ode_instance(system, x.detach(), reference, info)
    return Instance(x=x.detach(), loss=loss, reference=reference, chain=(loss,), info=info)


KIND_WORDS = {"function": "your function", "module": "your nn.Module", "ode": "your ODE"}


@functools.lru_cache(maxsize=None)
def user_problem(spec: str) -> Problem:
    """The Problem `spec` (FILE.py:NAME or package.module:NAME) names, imported now and checked as
    problem_from_factory checks it."""
    return problem_from_factory(spec, _load_factory(spec))


def problem_from_factory(spec: str, factory: Callable) -> Problem:
    """The Problem a factory (dtype, device, seed, **params) -> (loss, x) | ModuleProblem | OdeProblem makes,
    named `spec`, checked by building it once (float64, cpu, seed 0, default params): every mistake is a
    ConfigError naming `spec`."""
    import torch

    from gradcmp.ode.system import solver_params

    declared = _declared_params(spec, factory)
    names = frozenset(param.name for param in declared)
    made = _call(spec, factory, torch.float64, torch.device("cpu"), 0, {param.name: param.default for param in declared})
    kind = _pieces(spec, made, {param.name: param.default for param in solver_params()})[0]
    declared = (*solver_params(), *declared) if kind == "ode" else declared
    build = functools.partial(_build, spec, factory, names)
    build({param.name: param.default for param in declared}, torch.float64, torch.device("cpu"), 0)
    return Problem(name=spec, description=f"{KIND_WORDS[kind]} from {spec}", params=declared, build=build,
                   provides=frozenset({"ode", "chain"}) if kind == "ode" else frozenset({"chain"}))


def inline_problem(given) -> Problem:
    """The Problem of what a notebook passes: a factory function (as FILE.py:NAME names), or a pair
    (loss, x) of a function and the tensor to differentiate it at (cast to the run's dtype and device)."""
    if isinstance(given, tuple) and len(given) == 2 and callable(given[0]):
        loss, x = given
        if not _is_tensor(x):
            raise ConfigError(f"a (loss, x) pair needs x as a torch tensor, got {type(x).__name__}")
        name = getattr(loss, "__name__", "loss")

        def factory(dtype, device, seed):
            return loss, x.detach().to(dtype=dtype, device=device)

        return problem_from_factory(name, factory)
    if callable(given):
        return problem_from_factory(getattr(given, "__name__", "problem"), given)
    raise ConfigError(f"a problem is a registered name, FILE.py:NAME, a factory function or a (loss, x) pair, "
                      f"got {type(given).__name__}")


def _is_tensor(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor)
