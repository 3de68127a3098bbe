"""Annual maxima from daily data, sites stacked for clustering, and files in and out.

- :mod:`.maxima`: annual maxima on any CF calendar and the (n_years, n_sites) site stack.
- :mod:`.files`: NetCDF / Zarr input (daily values or maxima) and the ``regions.nc`` output.
"""
