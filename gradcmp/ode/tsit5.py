"""Tsitouras 5(4) (Tsitouras 2011, "Runge-Kutta pairs of order 5(4) satisfying only the first column
simplifying assumption"): adaptive steps under rtol/atol, seven stages with the last reused (FSAL), the
pair SciML's Tsit5 and diffrax's Tsit5 are. Tuned for a smaller principal error than dopri5's at the
same cost, and a free fourth-order interpolant.

The tableau only; the solver is gradcmp.ode.embedded_rk's, shared with dopri5. Coefficients to double
precision as published (and as OrdinaryDiffEq and diffrax give them).
"""
from gradcmp.ode.embedded_rk import EmbeddedRK, Tableau

B = (0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774)
B_HAT = (0.09468075576583946, 0.009183565540343254, 0.4877705284247616, 1.234297566930479, -2.7077123499835256,
         1.8666284181705870, 1 / 66)

TABLEAU = Tableau(
    c=(0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0),
    a=(
        (),
        (0.161,),
        (-0.008480655492356989, 0.335480655492357),
        (2.8971530571054935, -6.359448489975075, 4.3622954328695815),
        (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
        (5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383),
    ),
    b=B,
    e=tuple(b - b_hat for b, b_hat in zip(B + (0.0,), B_HAT)),
    # The free interpolant (fourth order), in powers of theta: b_i(theta) = sum_p dense[i][p] theta^(p+1).
    dense=(
        (1.0, -2.763706197274826, 2.9132554618219126, -1.0530884977290216),
        (0.0, 0.1317, -0.2234, 0.1017),
        (0.0, 3.9302962368947516, -5.941033872131505, 2.490627285651253),
        (0.0, -12.411077166933676, 30.33818863028232, -16.548102889244902),
        (0.0, 37.50931341651104, -88.1789048947664, 47.37952196281928),
        (0.0, -27.896526289197286, 65.09189467479366, -34.87065786149661),
        (0.0, 1.5, -4.0, 2.5),
    ),
)

SOLVER = EmbeddedRK(name="tsit5", order=5, tableau=TABLEAU)
