"""Forest-loss alerts: kernels that decode published alert encodings, group alert pixels into clearing patches
window by window, merge the patches that cross window edges exactly, and run it all over many tiles on Dask.

The product on top of these kernels (tables, routes, attribution to reserves, the field loop) is issue 14.
"""
