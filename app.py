"""The editgan web app: sample or upload an image, paint its part map, edit, save and share edit vectors.

    python app.py [--model faces|cars|<model folder>|<hub repo id>] [--port 7860] [--host 127.0.0.1]

The model comes from --model, else the EDITGAN_MODEL environment variable, else "faces".
Runs as a Hugging Face Space unchanged (README's YAML header: sdk gradio, app_file app.py).

This file only composes the tabs; each lives in `editgan/ui/` (edit, vectors, label) over
the pure handlers of `editgan.app_logic` and `editgan.app_labelling`. Every action has an
api_name, so `gradio_client` can drive the app: load_model, sample, embed, edit, edit_parts,
undo, redo, history, goto_step, apply_vectors, set_combine_mode, refine, export, vectors,
refresh_vectors, load_vector, save_vector, list_hub, pull_vector, label_*.
Per-user state lives in one gr.State (an `editgan.app_logic.Session`).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import gradio as gr

from editgan import app_logic as L
from editgan.model import EditModel, shipped_domains
from editgan.ui import edit_tab, label_tab, vectors_tab
from editgan.ui.common import CSS, HEAVY, HEAVY_LIMIT, MAX_UPLOAD, PRIVATE, safe

log = logging.getLogger("editgan.app")
INTRO = ("# editgan\nPaint the part map of an image; editgan finds the latent edit that draws it "
         "and leaves the rest alone. Save edits as vectors, apply them with sliders, share them on the Hub. "
         "Exported images say in their metadata that they were generated and edited.")


def initial_session(model: str | EditModel | None, vectors_dir, seed: int, truncation: float) -> L.Session:
    """The session every new visitor starts from, on the app's model."""
    if isinstance(model, EditModel):
        key = L.register_model(model, vectors_dir=vectors_dir)
    else:
        key = (model or os.environ.get("EDITGAN_MODEL") or "faces").strip()
        L.trust_model(key)
        if vectors_dir is not None:
            L.set_vectors_dir(key, vectors_dir)
    return L.new_session(key, seed, truncation)


def build_demo(model: str | EditModel | None = None, vectors_dir: str | Path | None = None,
               seed: int = 0, truncation: float = 0.7) -> gr.Blocks:
    """The app on a model: a source for load_model (shipped name, folder, checkpoint, Hub id) or an EditModel."""
    initial = initial_session(model, vectors_dir, seed, truncation)
    choices = list(dict.fromkeys(shipped_domains() + [initial.model]))
    with gr.Blocks(title="editgan", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        st = gr.State(initial)
        gr.Markdown(INTRO)
        with gr.Tabs(elem_id="main-tabs"):
            with gr.Tab("Edit", id="edit"):
                edit_ui = edit_tab.build(initial, choices, seed, truncation)
            with gr.Tab("Vectors", id="vectors", elem_id="vectors-tab"):
                vectors_ui = vectors_tab.build(initial)
            with gr.Tab("Label & train a branch", id="label", elem_id="label-tab"):
                label_ui = label_tab.build(initial)

        edit = edit_tab.wire(edit_ui, st)
        vectors_tab.wire(vectors_ui, st, edit["refresh_slots"], edit["slot_out"])
        saved, folder_box = label_tab.wire(label_ui, st)

        @safe
        def on_load(session):
            session = L.refresh_vectors(session)
            return (session, *edit["refresh_slots"](session), L.vector_table(session), edit_tab.model_markdown(session))

        demo.load(on_load, [st], [st, *edit["slot_out"], vectors_ui["table"], edit_ui["model_md"]], **PRIVATE)

        def label_defaults(session):
            """The labelling tab starts from the newly loaded model: its name, its classes if it has a branch."""
            from editgan import app_labelling as AL

            return f"{L.get_model(session.model).name}-labels", AL.default_classes(session)

        # a new model: the labelling tab follows; a model saved by the labelling tab opens in the Edit tab
        edit["loaded"].then(safe(label_defaults), [st], [label_ui["name"], label_ui["classes"]], **PRIVATE)
        opened = saved.then(lambda folder: gr.update(value=folder, choices=list(dict.fromkeys(choices + [folder]))),
                            [folder_box], [edit_ui["model"]], **PRIVATE).then(
            edit["load_model"], edit["load_inputs"], edit["load_outputs"], **dict(HEAVY, api_visibility="private"))
        edit["after"](opened, slots=True)
    return demo


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="shipped domain, model folder, checkpoint or Hub repo id "
                                                 "(default: $EDITGAN_MODEL or faces)")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    demo = build_demo(a.model)
    demo.queue(default_concurrency_limit=HEAVY_LIMIT).launch(server_name=a.host, server_port=a.port, share=a.share,
                                                             css=CSS, max_file_size=MAX_UPLOAD)


if __name__ == "__main__":
    main()
