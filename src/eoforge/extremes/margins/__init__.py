"""Statistics of one site's annual maxima (its marginal distribution) and regional diagnostics.

- :mod:`.pwm`: probability-weighted moments b_r and the PWM ratio omega.
- :mod:`.lmoments`: L-moments and Hosking & Wallis discordancy D_i and heterogeneity H.
- :mod:`.kappa`: the four-parameter kappa distribution (the H simulations).
- :mod:`.gev`: maximum-likelihood GEV fit and return levels.
"""
