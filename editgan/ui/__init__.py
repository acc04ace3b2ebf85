"""The Gradio app, one module per tab over the pure handlers of `editgan.app_logic`.

- `common`: error mapping, queues, long work in a thread with progress;
- `edit_tab`: sample or upload, paint, edit, history, vector sliders, export;
- `vectors_tab`: save the last edit as a vector, the Hub, vector files;
- `label_tab`: label a few samples and train a segmentation branch.

`app.py` at the project's root composes them (`build_demo`) and launches the server.
"""
