# PYTHONSTARTUP of the kernels JupyterLab starts for the lab (jupyter_lab.environment): a NameError for a
# name the notebook defines says which cell to run, from the first cell after a restart (kernel_guard).
# IPython runs this file in the notebook's namespace, so it binds no name there.
__import__("labsupport.teaching.kernel_guard", fromlist=["install"]).install()
