"""ADBench's `lstm` as GradBench keeps it: a stacked LSTM with diagonal (elementwise) weights, scored by the
averaged negative log-likelihood of the next character, differentiated w.r.t. all its weights.

l layers of width b (the bits of a character) over a sequence of c characters s_0 .. s_{c-1} (rows of 0/1
bits). Layer k has weights w and biases u for its four gates, each a vector of b (so x W is x * w):

    f_t = sigmoid(in_t * w_f + u_f)           forget, from the layer's input
    i_t = sigmoid(h_{t-1} * w_i + u_i)        input gate, from the layer's own hidden state
    o_t = sigmoid(in_t * w_o + u_o)           output gate, from the input
    g_t = tanh(h_{t-1} * w_g + u_g)           change, from the hidden state
    c_t = c_{t-1} * f_t + i_t * g_t,   h_t = o_t * tanh(c_t)

Layer 1's input is s_t * w_in, layer k+1's is layer k's h_t; the prediction is y_t = h_t * w_out + u_out
from the top layer, and

    loss = -1 / ((c - 1) b) sum_{t=0}^{c-2} sum_j s_{t+1, j} (y_tj - log(2 + sum_j' exp(y_tj')))

The "2 +" inside the log is ADBench's quirk, kept: GradBench's C++ and PyTorch tools both have it (Python's
`sum(exp(y), 2)` starts the sum at 2), so this is the function their published figures time.

x = (main_params (2l x 4b), extra_params (3 x b)) flattened row-major, in that order: row 2k of main_params
is layer k's gate weights [w_f, w_i, w_o, w_g], row 2k+1 its biases in the same order; extra_params are
w_in, w_out, u_out. The initial state (h, c of each layer) and the sequence are data, not differentiated.
As GradBench's generator does, parameters and initial state are uniform on [0, 1); the sequence is c
random b-bit characters (GradBench reads them from a text; ADBench's has b = 14), from `--seed`.

Reference: backpropagation through time written by hand in float64 numpy (reference_gradient), no autograd;
tests/test_adbench_problems.py checks it against central differences.
"""
from gradcmp.config import Param
from gradcmp.problems.base import Instance, Problem


def split(x, layers: int, bits: int):
    """(main (layers, 2, 4, bits): [layer][weight or bias][gate f, i, o, g], extra (3, bits)): views of x."""
    main, extra = x.split([8 * layers * bits, 3 * bits])
    return main.view(layers, 2, 4, bits), extra.view(3, bits)


def objective(x, state, sequence, layers: int, bits: int):
    """The loss for flat x (torch). Layer by layer: each layer's forget and output gates depend on its
    input alone, so they are computed for all steps at once; the loop over steps carries only the
    recurrent part (input gate, change, cell, hidden), with every weight selected before it: a select
    or an addcmul inside the loop costs a backward node several times a multiply's."""
    import torch

    main, extra = split(x, layers, bits)
    inputs = sequence[:-1] * extra[0]  # (c - 1, b): layer 1's input at every step
    for layer in range(layers):
        (w_f, w_i, w_o, w_g), (u_f, u_i, u_o, u_g) = main[layer]
        forget = torch.sigmoid(inputs * w_f + u_f).unbind(0)
        outgate = torch.sigmoid(inputs * w_o + u_o).unbind(0)
        hidden, cell = state[2 * layer], state[2 * layer + 1]
        outputs = []
        for f, o in zip(forget, outgate):
            ingate = torch.sigmoid(hidden * w_i + u_i)
            change = torch.tanh(hidden * w_g + u_g)
            cell = cell * f + ingate * change
            hidden = o * torch.tanh(cell)
            outputs.append(hidden)
        inputs = torch.stack(outputs)
    predicted = inputs * extra[1] + extra[2]  # (c - 1, b)
    log_normaliser = torch.log(torch.exp(predicted).sum(1, keepdim=True) + 2)  # ADBench's "+ 2"
    target = sequence[1:]
    return -(target * (predicted - log_normaliser)).sum() / target.numel()


def _sigmoid(a):
    import numpy as np

    return 1 / (1 + np.exp(-a))


def reference_gradient(main_params, extra_params, state, sequence):
    """dloss/dx by hand-written backpropagation through time, float64 numpy, flat in x's order.

    main_params (2l, 4b), extra_params (3, b), state (2l, b), sequence (c, b), as in the module docstring.
    """
    import numpy as np

    layers, bits = main_params.shape[0] // 2, sequence.shape[1]
    steps = sequence.shape[0] - 1
    gates = main_params.reshape(layers, 2, 4, bits)
    w_in, w_out, u_out = extra_params
    # forward, keeping every layer's inputs, gates and states
    inputs = sequence[:-1] * w_in
    saved = []
    for layer in range(layers):
        (wf, wi, wo, wg), (uf, ui, uo, ug) = gates[layer]
        F, O = _sigmoid(inputs * wf + uf), _sigmoid(inputs * wo + uo)
        H, C = np.zeros((steps + 1, bits)), np.zeros((steps + 1, bits))  # row 0: the initial state
        H[0], C[0] = state[2 * layer], state[2 * layer + 1]
        I, G = np.zeros((steps, bits)), np.zeros((steps, bits))
        for t in range(steps):
            I[t] = _sigmoid(H[t] * wi + ui)
            G[t] = np.tanh(H[t] * wg + ug)
            C[t + 1] = C[t] * F[t] + I[t] * G[t]
            H[t + 1] = O[t] * np.tanh(C[t + 1])
        saved.append((inputs, F, O, I, G, H, C))
        inputs = H[1:]
    predicted = inputs * w_out + u_out
    exp_predicted = np.exp(predicted)
    normaliser = exp_predicted.sum(1, keepdims=True) + 2
    target = sequence[1:]
    # backward
    scale = -1 / target.size
    d_predicted = scale * (target - target.sum(1, keepdims=True) * exp_predicted / normaliser)
    g_w_out = (d_predicted * inputs).sum(0)
    g_u_out = d_predicted.sum(0)
    d_hidden_out = d_predicted * w_out  # dloss/dh_t of the top layer, from the prediction
    g_gates = np.zeros_like(gates)
    for layer in reversed(range(layers)):
        (wf, wi, wo, wg), _ = gates[layer]
        inputs, F, O, I, G, H, C = saved[layer]
        d_F, d_O = np.zeros((steps, bits)), np.zeros((steps, bits))
        d_I_pre, d_G_pre = np.zeros((steps, bits)), np.zeros((steps, bits))
        d_h_next, d_c_next = np.zeros(bits), np.zeros(bits)
        for t in reversed(range(steps)):
            d_h = d_hidden_out[t] + d_h_next
            tanh_c = np.tanh(C[t + 1])
            d_O[t] = d_h * tanh_c
            d_c = d_h * O[t] * (1 - tanh_c ** 2) + d_c_next
            d_F[t] = d_c * C[t]
            d_I_pre[t] = d_c * G[t] * I[t] * (1 - I[t])
            d_G_pre[t] = d_c * I[t] * (1 - G[t] ** 2)
            d_c_next = d_c * F[t]
            d_h_next = d_I_pre[t] * wi + d_G_pre[t] * wg
        d_F_pre, d_O_pre = d_F * F * (1 - F), d_O * O * (1 - O)
        g_gates[layer, 0] = [(d_F_pre * inputs).sum(0), (d_I_pre * H[:-1]).sum(0),
                             (d_O_pre * inputs).sum(0), (d_G_pre * H[:-1]).sum(0)]
        g_gates[layer, 1] = [d_F_pre.sum(0), d_I_pre.sum(0), d_O_pre.sum(0), d_G_pre.sum(0)]
        d_hidden_out = d_F_pre * wf + d_O_pre * wo  # dloss/d(this layer's input)
    g_w_in = (d_hidden_out * sequence[:-1]).sum(0)
    return np.concatenate([g_gates.ravel(), g_w_in, g_w_out, g_u_out])


def draw(params, seed):
    """(main_params (2l, 4b), extra_params (3, b), state (2l, b), sequence (c, b)) in float64 from `seed`."""
    import torch

    chars, layers, bits = params["c"], params["l"], params["b"]
    generator = torch.Generator().manual_seed(seed)
    uniform = lambda *shape: torch.rand(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    state = uniform(2 * layers, bits)
    main_params = uniform(2 * layers, 4 * bits)
    extra_params = uniform(3, bits)
    codes = torch.randint(0, 2 ** bits, (chars,), generator=generator)
    sequence = ((codes.unsqueeze(1) >> torch.arange(bits - 1, -1, -1)) & 1).to(torch.float64)  # big-endian bits
    return main_params, extra_params, state, sequence


def build(params, dtype, device, seed) -> Instance:
    import torch

    layers, bits = params["l"], params["b"]
    main_params, extra_params, state64, sequence64 = draw(params, seed)
    x64 = torch.cat([main_params.reshape(-1), extra_params.reshape(-1)])
    reference = torch.from_numpy(reference_gradient(main_params.numpy(), extra_params.numpy(),
                                                    state64.numpy(), sequence64.numpy()))
    state, sequence = state64.to(dtype=dtype, device=device), sequence64.to(dtype=dtype, device=device)
    return Instance(
        x=x64.to(dtype=dtype, device=device),
        loss=lambda x: objective(x, state, sequence, layers, bits),
        reference=reference,
        info={"weights": f"main {2 * layers} x {4 * bits}, extra 3 x {bits} ({x64.numel()} entries)"},
    )


def estimate(params) -> tuple[float, float]:
    """The reference's saved forward (about 8 arrays of c x b per layer) and the loss's as many, the
    sequence; flops: about 60 per step, layer and bit for the reference's forward and backward."""
    chars, layers, bits = params["c"], params["l"], params["b"]
    return (20 * layers * chars * bits + 3 * chars * bits + 20 * layers * bits) * 8, 60 * chars * layers * bits


PROBLEM = Problem(
    name="lstm",
    description="ADBench's lstm: next-character log-likelihood of a stacked diagonal LSTM, w.r.t. all its "
                "weights; reference: hand-written backprop through time",
    params=(
        Param("c", 1024, "characters in the sequence (steps)", minimum=2),
        Param("l", 2, "stacked LSTM layers", minimum=1),
        Param("b", 14, "bits per character: the width of every layer", minimum=1),
    ),
    test_params={"c": 6, "l": 2, "b": 3},
    build=build,
    estimate=estimate,
)
