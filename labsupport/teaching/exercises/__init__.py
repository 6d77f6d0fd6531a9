"""The lessons' exercise checks and reference answers.

They live in the package, not beside the stubs in ``notebooks/scenarios``: JupyterLab's file browser
shows the notebooks folder, and a lesson's ``show_file`` shows scenario files, so neither puts an
answer or a hidden check next to the file the learner edits. No notebook cell prints their source.
"""
