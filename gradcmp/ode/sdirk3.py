"""Alexander's three-stage SDIRK (R. Alexander, "Diagonally implicit Runge-Kutta methods for stiff
O.D.E.'s", SIAM J. Numer. Anal. 14, 1977): third order, L-stable and stiffly accurate, on fixed steps.
For stiff systems, where an explicit method's step is bounded by stability rather than accuracy.

Each stage solves the implicit equation

    Y_i = s_i + gamma dt f(t + c_i dt, Y_i),   s_i = x + dt sum_{j<i} a_ij k_j,

by NEWTON_ITERATIONS full Newton iterations: the Jacobian J of f at the current iterate from
torch.func.jacfwd (the evaluation of f it makes gives f's value too), then a dense solve of
(I - gamma dt J) delta = Y - s_i - gamma dt f(Y). Then k_i = (Y_i - s_i) / (gamma dt), and x1 = Y_3 (the
last row of A is b). The first stage starts Newton from x, the others from s_i + gamma dt k_(i-1).

A fixed number of iterations, no convergence test: nothing branches on tensor values, so a solve is a
pure function that autograd (through jacfwd and torch.linalg.solve: the exact derivative of the discrete
map, Newton iterations included), torch.func.jvp and vmap all go through, and the count of evaluations
is known: 3 NEWTON_ITERATIONS per step, each with a Jacobian (one f call and x.numel() JVPs batched by
vmap) and an LU solve of an x.numel()-square matrix. Forward mode, not jacrev: torch.func's reverse-mode
transforms refuse to run under saved-tensor hooks, which measuring autograd's saved bytes and the
checkpointing strategies' backward passes install; jacfwd runs under them. f must be differentiable by
torch.func.jvp (plain torch operations are; torch.autograd.grad inside f is not). On a linear f the first iteration is already
exact; on a nonlinear f the iterations converge quadratically from the predictor, and a step so large
they have not leaves an error that shows in the solution (and the gradient), not a failure.
"""
from gradcmp.ode.fixed_step import FixedStep

NEWTON_ITERATIONS = 3
# gamma: the root of gamma^3 - 3 gamma^2 + 3 gamma / 2 - 1/6 = 0 in (1/6, 1/2), the L-stable one of order 3.
GAMMA = 0.43586652150845899942
C = (GAMMA, (1 + GAMMA) / 2, 1.0)
B = (-(6 * GAMMA ** 2 - 16 * GAMMA + 1) / 4, (6 * GAMMA ** 2 - 20 * GAMMA + 5) / 4, GAMMA)
A = ((), ((1 - GAMMA) / 2,), B[:2])  # strictly lower part; the diagonal is GAMMA throughout


def value_and_jacobian(f, t, y):
    """(f(t, y) flattened, its Jacobian d f / d y over the flattened state): one call of f."""
    import torch

    shape = y.shape

    def flat(z):
        value = f(t, z.reshape(shape)).reshape(-1)
        return value, value

    jacobian, value = torch.func.jacfwd(flat, has_aux=True)(y.reshape(-1))
    return value, jacobian


def newton(f, t, s, y, h, iterations: int = NEWTON_ITERATIONS):
    """Y with Y = s + h f(t, Y), by `iterations` Newton steps from y."""
    import torch

    eye = torch.eye(y.numel(), dtype=y.dtype, device=y.device)
    for _ in range(iterations):
        value, jacobian = value_and_jacobian(f, t, y)
        residual = (y - s).reshape(-1) - h * value
        y = y - torch.linalg.solve(eye - h * jacobian, residual).reshape(y.shape)
    return y


def step(f, t, x, dt):
    """x1 from x over one step. torch.compile does not trace it (torch.compiler.disable): inductor crashed
    the process (segfault, torch 2.13, CPU) compiling its linear solves, so a compiled strategy runs the
    step eagerly between its compiled parts."""
    import torch

    return torch.compiler.disable(_step)(f, t, x, dt)


def _step(f, t, x, dt):
    h = GAMMA * dt
    ks, y = [], x
    for node, row in zip(C, A):
        s = x
        for k, weight in zip(ks, row):
            s = s.add(k, alpha=weight * dt)
        if ks:
            y = s.add(ks[-1], alpha=h)
        y = newton(f, t + node * dt, s, y, h)
        ks.append((y - s) / h)
    return y


SOLVER = FixedStep(name="sdirk3", order=3, stages=3 * NEWTON_ITERATIONS, step=step, implicit=True)
