"""The editgan web app: sample or upload an image, paint its part map, edit, save and share edit vectors.

    python app.py [--model faces|cars|<model folder>|<hub repo id>] [--port 7860] [--host 127.0.0.1]

The model comes from --model, else the EDITGAN_MODEL environment variable, else "faces".
Runs as a Hugging Face Space unchanged (README's YAML header: sdk gradio, app_file app.py).

Every action has an api_name, so `gradio_client` can drive the app (see docs in README):
load_model, sample, embed, edit, edit_parts, undo, apply_vectors, refine, vectors,
refresh_vectors, load_vector, save_vector, list_hub, pull_vector, export.
Per-user state lives in one gr.State (an `editgan.app_logic.Session`); the handlers are
thin wrappers over `editgan.app_logic`.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import logging
import os
import queue
import random
import tempfile
import threading
import time
import traceback
from pathlib import Path

import gradio as gr

from editgan import app_labelling as AL
from editgan import app_logic as L
from editgan.model import EditModel, shipped_domains

log = logging.getLogger("editgan.app")

try:  # Hugging Face ZeroGPU Spaces: heavy handlers borrow a GPU; a no-op elsewhere
    import spaces

    GPU = spaces.GPU
except ImportError:
    def GPU(fn=None, **_kw):
        return fn if fn is not None else (lambda f: f)

SLOTS = L.MAX_SLOTS
HEAVY_LIMIT = int(os.environ.get("EDITGAN_HEAVY_CONCURRENCY", "2"))  # edits, embeddings, refinements at once
PREVIEW_EVERY_S = 0.5
CSS = """
.editgan-pixelated img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }
.editgan-legend-item { white-space: nowrap; font-size: 0.9em; }
"""


# ----- errors --------------------------------------------------------------------------------------
def _to_gr_error(e: Exception) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, L.AppError):
        return gr.Error(str(e))
    log.error("unexpected error: %s", "".join(traceback.format_exception(e)))
    return gr.Error(f"internal error ({type(e).__name__}: {e}); the app is fine, try again or report it")


def safe(fn):
    """Every handler: the core's errors and surprises become a gr.Error with the message."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:
                raise _to_gr_error(e) from e

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise _to_gr_error(e) from e

    return wrapper


# ----- views of a session ---------------------------------------------------------------------------
def _pil(tensor):
    from editgan.embedding import to_pil

    return to_pil(tensor)


def editor_value(session: L.Session, opacity: float, layers=None, image=None, labels=None) -> dict:
    model = L.model_of(session)
    if image is None:
        image, labels = L.render(session)
    bg = L.blend_picture(image, labels, model.palette, opacity)
    return {"background": bg, "layers": list(layers or []), "composite": bg}


def editor_component(session: L.Session, opacity: float, image=None, labels=None) -> gr.ImageEditor:
    """The paint canvas for a session's model: its class colours as the brush palette."""
    model = L.model_of(session)
    colors = L.brush_colors(model.palette) or ["#808080"]
    size = max(1, L.display_scale(model.G.resolution)) * 2
    return gr.ImageEditor(value=editor_value(session, opacity, image=image, labels=labels),
                          brush=gr.Brush(colors=colors, default_color=colors[-1] if len(colors) > 1 else colors[0],
                                         color_mode="fixed", default_size=size),
                          interactive=model.segmenter is not None)


def view(session: L.Session, opacity: float, report: dict | None = None, before=None):
    """(state, before image, current image, part map, paint canvas, info) for a session."""
    model = L.model_of(session)
    image, labels = L.render(session)
    current = _pil(image)
    return (session, before if before is not None else current, current,
            L.parts_picture(labels, model.palette, model.G.resolution),
            editor_value(session, opacity, image=image, labels=labels), L.info_markdown(session, report))


def slot_updates(session: L.Session) -> list:
    return [gr.update(visible=s["visible"], label=s["label"], value=s["value"], info=s["info"])
            for s in L.slot_specs(session, SLOTS)]


def model_markdown(session: L.Session) -> str:
    m = L.model_of(session)
    seg = f"{len(m.class_names)} parts" if m.segmenter is not None else "no segmentation branch (vectors only)"
    return (f"**Model** `{m.name}`: {m.G.resolution} px, W+ {m.G.num_ws}x{m.G.w_dim}, {seg}; "
            f"fingerprint `{session.fingerprint}`; {len(session.vectors)} vector(s)")


def _temp_path(suffix: str, keep_s: float = 3600) -> Path:
    """A new file in the app's temp folder; files older than `keep_s` there are removed."""
    folder = Path(tempfile.gettempdir()) / "editgan-app"
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.glob("*"):
        try:
            if now - old.stat().st_mtime > keep_s:
                old.unlink()
        except OSError:
            pass
    fd, name = tempfile.mkstemp(suffix=suffix, dir=folder)
    os.close(fd)
    return Path(name)


# ----- long work in a thread, with progress and previews -------------------------------------------
def stream_work(work, progress, desc: str, recorder: L.RecordingGenerator | None = None):
    """Run work(callback) in a thread; yield ("preview", image) while it runs, then ("done", result).

    The callback reports each step to gr.Progress; when the caller goes away (the
    generator is closed), the next callback raises Cancelled and the work stops.
    """
    events: queue.Queue = queue.Queue()
    cancel = threading.Event()
    result: dict = {}

    def callback(step, total, info=None):
        if cancel.is_set():
            raise L.Cancelled()
        events.put((step, total, info or {}))

    def run():
        try:
            result["value"] = work(callback)
        except BaseException as e:  # noqa: BLE001 - handed to the handler's thread
            result["error"] = e
        finally:
            events.put(None)

    thread = threading.Thread(target=run, name="editgan-work", daemon=True)
    thread.start()
    last = time.monotonic()
    try:
        while True:
            ev = events.get()
            if ev is None:
                break
            step, total, info = ev
            acc, loss = info.get("accuracy"), info.get("loss")
            progress((step, total), desc=f"{desc}: step {step}/{total}" + (f", region accuracy {acc:.2f}" if acc is not None else "")
                     + (f", loss {loss:.3f}" if loss is not None else ""))
            if recorder is not None and recorder.last_image is not None and time.monotonic() - last > PREVIEW_EVERY_S:
                last = time.monotonic()
                yield "preview", _pil(recorder.last_image)
    finally:
        cancel.set()
    thread.join()
    if "error" in result:
        raise result["error"]
    yield "done", result["value"]

# ----- the "Label & train" tab -------------------------------------------------------------------------
LABEL_OPACITY = 0.55
LABEL_INTRO = """**Bring your own StyleGAN2**: load its checkpoint in the Edit tab (Model), then label a few samples here.

1. Name the project and its classes, press **Open / start project** (an existing project opens as it was).
2. Give each numbered cluster a class (right): the canvas shows the proposal.
3. Paint what is still wrong, press **Save label & next** (saved to disk at once; reopen the project any time).
4. After a few labels, **Train the branch**: new samples then start from its prediction; check the previews.
5. **Save model & edit with it**, and push it to the Hub if you like."""


def label_tab_layout(initial: L.Session) -> dict:
    """The components of the labelling tab (events are wired in `label_tab_events`)."""
    ui: dict = {"state": gr.State(None)}
    gr.Markdown(LABEL_INTRO)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            ui["name"] = gr.Textbox(label="Project name (a folder under the labels root)",
                                    value=f"{L.get_model(initial.model).name}-labels", elem_id="label-name")
            ui["classes"] = gr.Textbox(label="Classes, one per line: name #rrggbb (the first is the default)",
                                       value=AL.default_classes(initial), lines=6, max_lines=20, elem_id="label-classes")
            ui["k"] = gr.Slider(2, AL.MAX_CLUSTERS, value=8, step=1, label="Clusters in the proposals")
            ui["truncation"] = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation of the samples")
            ui["target"] = gr.Slider(2, 64, value=16, step=1, label="Samples to label")
            ui["open"] = gr.Button("Open / start project", variant="primary", elem_id="label-open")
            ui["set_classes"] = gr.Button("Update the open project's classes", size="sm")
        with gr.Column(scale=2, min_width=420):
            ui["status"] = gr.Markdown("No project open.", elem_id="label-status")
            ui["editor"] = gr.ImageEditor(
                label="Proposal: paint what is wrong", type="numpy", image_mode="RGBA", format="png", sources=[],
                transforms=[], layers=gr.LayerOptions(allow_additional_layers=False), eraser=gr.Eraser(),
                brush=gr.Brush(colors=["#808080"], color_mode="fixed"), canvas_size=(512, 512), height=560,
                elem_id="label-editor", buttons=[], interactive=True)
            with gr.Row():
                ui["save"] = gr.Button("Save label & next", variant="primary", elem_id="label-save")
                ui["skip"] = gr.Button("Skip this sample", elem_id="label-skip")
                ui["seed"] = gr.Number(label="Go to seed", precision=0, minimum=0, scale=0, min_width=120)
            ui["legend"] = gr.HTML("", elem_id="label-legend")
        with gr.Column(scale=1, min_width=260):
            ui["clusters_img"] = gr.Image(label="Clusters of the generator's features", type="pil", format="png",
                                          interactive=False, height=260, elem_id="label-clusters",
                                          elem_classes="editgan-pixelated")
            ui["dropdowns"] = [gr.Dropdown(choices=[], label=f"cluster {i}", visible=False, min_width=100,
                                           elem_id=f"label-cluster-{i}") for i in range(AL.MAX_CLUSTERS)]
    with gr.Row(equal_height=True):
        ui["steps"] = gr.Slider(50, 2000, value=500, step=50, label="Training steps", elem_id="label-steps")
        ui["members"] = gr.Slider(1, 10, value=10, step=1, label="Ensemble members", elem_id="label-members")
        ui["train"] = gr.Button("Train the branch", variant="primary", elem_id="label-train")
        ui["from_branch"] = gr.Checkbox(value=True, label="Propose from the trained branch")
    ui["previews"] = gr.Gallery(label="New samples and the branch's part maps", columns=4, height=300,
                                object_fit="contain", elem_id="label-previews")
    with gr.Row(equal_height=True):
        ui["more"] = gr.Button("More previews")
        ui["save_model"] = gr.Button("Save model & edit with it", variant="primary", elem_id="label-save-model")
        ui["repo"] = gr.Textbox(label="Hub repo id", placeholder="user/my-editgan-model")
        ui["token"] = gr.Textbox(label="Hub token (write; not stored)", type="password")
        ui["private"] = gr.Checkbox(label="Private", value=False)
        ui["push"] = gr.Button("Push model to the Hub")
    ui["message"] = gr.Markdown("", elem_id="label-message")
    return ui


def label_view(state: AL.LabelState) -> tuple:
    """(state, status, canvas, cluster picture, legend, *cluster dropdowns, classes text) for a labelling state."""
    from editgan.labelling import cluster_picture

    project = state.project()
    sample = AL.sample_view(state)
    colors = L.brush_colors(project.palette)
    editor = gr.ImageEditor(value=AL.canvas(state, sample, LABEL_OPACITY),
                            brush=gr.Brush(colors=colors, default_color=colors[-1], color_mode="fixed",
                                           default_size=2 * L.display_scale(sample.image.shape[-1])))
    names = AL.mapping_names(state)
    dropdowns = [gr.update(visible=i < project.k, choices=project.class_names,
                           value=names[i] if i < project.k else None) for i in range(AL.MAX_CLUSTERS)]
    return (state, AL.status_markdown(state), editor, cluster_picture(sample.clusters), AL.legend(state), *dropdowns,
            AL.classes_of(state))


def label_tab_events(ui: dict, st, heavy: dict, light: dict) -> gr.events.Dependency:
    """Wire the labelling tab; returns the "save model" event (the app then loads that model)."""
    ls = ui["state"]
    view_out = [ls, ui["status"], ui["editor"], ui["clusters_img"], ui["legend"], *ui["dropdowns"], ui["classes"]]

    @safe
    def label_open(session, name, classes, k, truncation, target):
        """Start a labelling project for the loaded model's generator, or open it again (nothing is lost)."""
        return label_view(AL.open_project(session, name, classes, k, truncation, target))

    ui["open"].click(label_open, [st, ui["name"], ui["classes"], ui["k"], ui["truncation"], ui["target"]], view_out,
                     api_name="label_open", **heavy)

    @safe
    def label_classes(state, classes):
        """Rename, recolour or add classes of the open project (one per line: name #rrggbb)."""
        return label_view(AL.set_classes(AL.require(state), classes))

    ui["set_classes"].click(label_classes, [ls, ui["classes"]], view_out, api_name="label_classes", **light)

    @safe
    def label_assign(state, *names):
        """Give each cluster a class (class names, one per cluster): the proposal follows."""
        return label_view(AL.assign(AL.require(state), names))

    gr.on([d.input for d in ui["dropdowns"]], label_assign, [ls, *ui["dropdowns"]], view_out, api_name="label_assign",
          trigger_mode="always_last", **light)

    @safe
    def label_save(state, editor_v):
        """Save the proposal with the painted corrections as this sample's label; the next sample comes up."""
        state, name = AL.save_label(AL.require(state), editor_v)
        return label_view(state)

    ui["save"].click(label_save, [ls, ui["editor"]], view_out, api_name="label_save", **heavy)

    @safe
    def label_skip(state):
        """Skip this sample (it is not labelled)."""
        return label_view(AL.skip(AL.require(state)))

    ui["skip"].click(label_skip, [ls], view_out, api_name="label_skip", **light)

    @safe
    def label_seed(state, seed):
        """Label a given seed (to redo a label: saving again replaces it)."""
        return label_view(AL.go_to_seed(AL.require(state), seed))

    ui["seed"].submit(label_seed, [ls, ui["seed"]], view_out, api_name="label_seed", **light)

    @GPU(duration=300)
    @safe
    def label_train(state, steps, members, progress=gr.Progress()):
        """Train the segmentation branch on every saved label; returns the view and previews of new samples."""
        state = AL.require(state)
        box = {}
        for kind, value in stream_work(lambda cb: AL.train(state, steps, members, cb), progress, "training the branch"):
            box[kind] = value
        state = box["done"]
        return (*label_view(state), AL.previews(state))

    ui["train"].click(label_train, [ls, ui["steps"], ui["members"]], [*view_out, ui["previews"]],
                      api_name="label_train", **heavy)

    @safe
    def label_previews(state):
        """Four more new samples with the branch's part maps (all shown so far are returned)."""
        state = AL.require(state)
        state = state.replace(previews_shown=state.previews_shown + 4)
        return state, AL.previews(state, state.previews_shown)

    ui["more"].click(label_previews, [ls], [ls, ui["previews"]], api_name="label_previews", **light)

    @safe
    def label_from_branch(state, on):
        """Proposals from the trained branch (on) or from the clusters (off)."""
        state = AL.require(state)
        return label_view(state.replace(from_branch=bool(on) and state.segmenter is not None))

    ui["from_branch"].input(label_from_branch, [ls, ui["from_branch"]], view_out, **dict(api_visibility="private", **light))

    @safe
    def label_save_model(state):
        """Save the generator with the trained branch as a model folder; returns its path (the app loads it)."""
        state, folder = AL.save_model(AL.require(state))
        return state, AL.status_markdown(state), f"Saved to `{folder}`; the Edit tab now uses it.", str(folder)

    folder_box = gr.Textbox(visible=False)
    saved = ui["save_model"].click(label_save_model, [ls], [ls, ui["status"], ui["message"], folder_box],
                                   api_name="label_save_model", **light)

    @safe
    def label_push(state, repo_id, token, private_repo):
        """Push the saved model (generator + branch) to a Hub model repo."""
        url = AL.push_model(AL.require(state), repo_id, token, private_repo)
        return f"Pushed to {url}."

    ui["push"].click(label_push, [ls, ui["repo"], ui["token"], ui["private"]], [ui["message"]], api_name="label_push",
                     concurrency_limit=4, concurrency_id="hub")
    return saved, folder_box


# ----- the app ---------------------------------------------------------------------------------------
def build_demo(model: str | EditModel | None = None, vectors_dir: str | Path | None = None,
               seed: int = 0, truncation: float = 0.7) -> gr.Blocks:
    """The app on a model: a source for load_model (shipped name, folder, checkpoint, Hub id) or an EditModel."""
    if isinstance(model, EditModel):
        key = L.register_model(model, vectors_dir=vectors_dir)
    else:
        key = (model or os.environ.get("EDITGAN_MODEL") or "faces").strip()
        L.get_model(key)
        if vectors_dir is not None:
            L.set_vectors_dir(key, vectors_dir)
    initial = L.new_session(key, seed, truncation)
    init_model = L.model_of(initial)
    init_image, init_labels = L.render(initial)
    opacity0 = 0.6
    choices = list(dict.fromkeys(shipped_domains() + [key]))

    with gr.Blocks(title="editgan", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        st = gr.State(initial)
        gr.Markdown("# editgan\nPaint the part map of an image; editgan finds the latent edit that draws it "
                    "and leaves the rest alone. Save edits as vectors, apply them with sliders, share them on the Hub. "
                    "Exported images say in their metadata that they were generated and edited.")
        with gr.Tabs(elem_id="main-tabs"):
            with gr.Tab("Edit", id="edit"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        with gr.Tabs():
                            with gr.Tab("Sample"):
                                seed_in = gr.Number(value=seed, label="Seed", precision=0, minimum=0, maximum=2**32 - 1)
                                with gr.Row():
                                    random_btn = gr.Button("Random seed", size="sm")
                                    sample_btn = gr.Button("Sample", variant="primary", size="sm", elem_id="sample-btn")
                                trunc_in = gr.Slider(0.0, 1.0, value=truncation, step=0.05, label="Truncation")
                            with gr.Tab("Upload a photo"):
                                photo_in = gr.File(label="Photo (any size or mode; centre-cropped to a square)",
                                                   file_types=["image"], type="filepath", height=120)
                                embed_steps = gr.Slider(10, 1000, value=200, step=10, label="Embedding steps")
                                embed_btn = gr.Button("Embed", variant="primary")
                                target_img = gr.Image(label="Photo as the model sees it", type="pil", format="png",
                                                      interactive=False, height=160, elem_classes="editgan-pixelated")
                        with gr.Accordion("Model", open=False):
                            model_dd = gr.Dropdown(choices=choices, value=key, allow_custom_value=True,
                                                   label="A shipped domain, a model folder or a Hub repo id")
                            load_btn = gr.Button("Load model", size="sm")
                            model_md = gr.Markdown(model_markdown(initial))
                    with gr.Column(scale=2, min_width=420):
                        editor = gr.ImageEditor(
                            value=editor_value(initial, opacity0, image=init_image, labels=init_labels),
                            label="Paint the part map (brush colours = the model's parts)", type="numpy", image_mode="RGBA",
                            format="png", sources=[], transforms=[], layers=gr.LayerOptions(allow_additional_layers=False),
                            brush=gr.Brush(colors=L.brush_colors(init_model.palette) or ["#808080"],
                                           default_color=(L.brush_colors(init_model.palette) or ["#808080"])[-1],
                                           color_mode="fixed", default_size=2 * L.display_scale(init_model.G.resolution)),
                            eraser=gr.Eraser(), interactive=init_model.segmenter is not None, canvas_size=(512, 512),
                            height=600, elem_id="editor", buttons=[],
                        )
                    with gr.Column(scale=1, min_width=240):
                        legend = gr.HTML(L.legend_html(init_model.class_names, init_model.palette), elem_id="legend")
                        opacity = gr.Slider(0.0, 1.0, value=opacity0, step=0.05, label="Part map opacity")
                        edit_steps = gr.Slider(10, L.MAX_EDIT_STEPS, value=100, step=10, label="Edit steps (early stop)")
                        with gr.Row():
                            edit_btn = gr.Button("Edit", variant="primary", elem_id="edit-btn")
                            undo_btn = gr.Button("Undo", elem_id="undo-btn")
                        with gr.Accordion("Edit with a part-map file", open=False):
                            parts_file = gr.File(label="Part map PNG in the class colours", file_types=["image"],
                                                 type="filepath", height=100)
                            edit_parts_btn = gr.Button("Edit with this part map", size="sm")
                with gr.Row(equal_height=True):
                    img_args = dict(type="pil", format="png", interactive=False, height=300,
                                    elem_classes="editgan-pixelated", buttons=["download", "fullscreen"])
                    before_img = gr.Image(value=_pil(init_image), label="Before", elem_id="before", **img_args)
                    after_img = gr.Image(value=_pil(init_image), label="After (current image)", elem_id="after", **img_args)
                    parts_img = gr.Image(value=L.parts_picture(init_labels, init_model.palette, init_model.G.resolution),
                                         label="Part map", elem_id="parts", **img_args)
                info_md = gr.Markdown(L.info_markdown(initial), elem_id="info")
                with gr.Accordion("Edit vectors: strength sliders", open=True):
                    sliders = []
                    with gr.Row():
                        for spec in L.slot_specs(initial, SLOTS):
                            sliders.append(gr.Slider(*L.STRENGTH_RANGE, value=spec["value"], step=0.1, label=spec["label"],
                                                     info=spec["info"], visible=spec["visible"], min_width=220,
                                                     elem_classes="editgan-vector-slider"))
                    with gr.Row(equal_height=True):
                        refine_steps = gr.Slider(10, 30, value=20, step=1, label="Refine steps")
                        refine_btn = gr.Button("Refine (bakes the vectors into the image)")
                        refresh_btn = gr.Button("Reload vectors")
                    vectors_json = gr.JSON(value=L.vector_table(initial), label="Vectors", visible=False)
                    vectors_btn = gr.Button("List vectors", visible=False)
                with gr.Row():
                    with gr.Column(scale=1, min_width=200):
                        export_btn = gr.Button("Export PNG (with editgan metadata)", elem_id="export-btn")
                    export_file = gr.File(label="Edited image", interactive=False, height=80, scale=2)
                with gr.Accordion("Save and share edit vectors", open=False):
                    with gr.Row():
                        with gr.Column():
                            gr.Markdown("**Save the last edit as a vector**")
                            vec_name = gr.Textbox(label="Name", placeholder="smile")
                            vec_desc = gr.Textbox(label="Description", placeholder="what the edit does")
                            with gr.Row():
                                push_cb = gr.Checkbox(label="Also push to the Hub", value=False)
                                private_cb = gr.Checkbox(label="Private repo", value=False)
                            push_repo = gr.Textbox(label="Hub repo id", placeholder="user/editgan-vectors")
                            push_token = gr.Textbox(label="Hub token (write access; not stored)", type="password")
                            save_btn = gr.Button("Save vector")
                        with gr.Column():
                            gr.Markdown("**Vectors from the Hub or a file**")
                            hub_repo = gr.Textbox(label="Hub repo id", placeholder="user/editgan-vectors")
                            list_btn = gr.Button("List")
                            hub_dd = gr.Dropdown(choices=[], label="Vector", allow_custom_value=True)
                            pull_btn = gr.Button("Pull")
                            hub_json = gr.JSON(label="Vectors in the repo", value=[])
                            vec_file = gr.File(label="Or load a vector file (.safetensors)", file_types=[".safetensors"],
                                               type="filepath", height=100)
                    vec_md = gr.Markdown("")

            with gr.Tab("Label & train a branch", id="label", elem_id="label-tab"):
                label_ui = label_tab_layout(initial)

        view_out = [st, before_img, after_img, parts_img, editor, info_md]
        light = dict(concurrency_limit=None, concurrency_id="light")
        heavy = dict(concurrency_limit=HEAVY_LIMIT, concurrency_id="heavy")
        private = dict(api_visibility="private", **light)

        # --- refreshers (UI only) ---
        def refresh_slots(session):
            return (*slot_updates(session), L.vector_table(session))

        slot_out = [*sliders, vectors_json]

        @safe
        def on_load(session):
            session = L.refresh_vectors(session)
            return (session, *refresh_slots(session), model_markdown(session))

        demo.load(on_load, [st], [st, *slot_out, model_md], **private)

        # --- model ---
        @safe
        def load_model(session, source, seed_v, trunc_v, opacity_v):
            """Load a model (shipped domain, folder, checkpoint or Hub repo id) and sample a seed on it."""
            session = L.new_session((source or "").strip(), seed_v, trunc_v)
            m = L.model_of(session)
            out = list(view(session, opacity_v))
            out[4] = editor_component(session, opacity_v)
            return (*out, L.legend_html(m.class_names, m.palette), model_markdown(session))

        def label_defaults(session):
            """The labelling tab starts from the newly loaded model: its name, its classes if it has a branch."""
            return f"{L.get_model(session.model).name}-labels", AL.default_classes(session)

        load_btn.click(load_model, [st, model_dd, seed_in, trunc_in, opacity], [*view_out, legend, model_md],
                       api_name="load_model", **heavy).then(refresh_slots, [st], slot_out, **private).then(
            safe(label_defaults), [st], [label_ui["name"], label_ui["classes"]], **private)

        # --- sampling ---
        @safe
        def sample(session, seed_v, trunc_v, opacity_v):
            """A new image from a seed and truncation (edits are dropped; Undo restores them)."""
            return view(L.sample(session, seed_v, trunc_v), opacity_v)

        sample_args = dict(fn=sample, inputs=[st, seed_in, trunc_in, opacity], outputs=view_out)
        sample_btn.click(**sample_args, api_name="sample", **light)
        seed_in.submit(**sample_args, **private)
        random_btn.click(lambda: random.randrange(2**31), None, seed_in, **private).then(**sample_args, **private)

        # --- embedding ---
        @GPU(duration=120)
        @safe
        def embed(session, photo, steps, opacity_v, progress=gr.Progress()):
            """Embed an uploaded photo (any size or mode) into W+; it becomes the image to edit."""
            box = {}
            for kind, value in stream_work(lambda cb: L.embed_photo(session, photo, steps, cb), progress, "embedding"):
                box[kind] = value
            new, report, target = box["done"]
            out = view(new, opacity_v, report)
            return (*out, _pil(target))

        embed_btn.click(embed, [st, photo_in, embed_steps, opacity], [*view_out, target_img], api_name="embed", **heavy)

        # --- editing ---
        def run_edit_stream(session, target, steps, opacity_v, progress):
            model = L.model_of(session)
            before_image, _ = L.render(session)
            before = _pil(before_image)
            rec = L.RecordingGenerator(model.G)
            for kind, value in stream_work(lambda cb: L.run_edit(session, target, steps, cb, G=rec), progress, "editing", rec):
                if kind == "preview":
                    yield gr.skip(), before, value, gr.skip(), gr.skip(), gr.skip()
                else:
                    new, report = value
                    yield view(new, opacity_v, report, before=before)

        @GPU(duration=120)
        @safe
        def edit(session, editor_v, steps, opacity_v, progress=gr.Progress()):
            """Edit the image so its part map follows the painting (the editor value's paint layers)."""
            model = L.model_of(session)
            L.require_segmenter(model)
            _, labels = L.render(session)
            target = L.labels_from_editor(editor_v, labels, model.palette)
            yield from run_edit_stream(session, target, steps, opacity_v, progress)

        @GPU(duration=120)
        @safe
        def edit_parts(session, parts_path, steps, opacity_v, progress=gr.Progress()):
            """Edit the image so its part map becomes a part-map PNG (class colours, any square size)."""
            model = L.model_of(session)
            L.require_segmenter(model)
            target = L.labels_from_file(parts_path, model.palette, model.G.resolution)
            yield from run_edit_stream(session, target, steps, opacity_v, progress)

        edit_btn.click(edit, [st, editor, edit_steps, opacity], view_out, api_name="edit", **heavy)
        edit_parts_btn.click(edit_parts, [st, parts_file, edit_steps, opacity], view_out, api_name="edit_parts", **heavy)

        @safe
        def undo(session, opacity_v):
            """Undo the last edit, refinement, sample or embedding."""
            return view(L.undo(session), opacity_v)

        undo_btn.click(undo, [st, opacity], view_out, api_name="undo", **light).then(refresh_slots, [st], slot_out, **private)

        @safe
        def repaint(session, opacity_v, editor_v):
            """The canvas at a new opacity, keeping what was painted."""
            layers = (editor_v or {}).get("layers") or []
            return editor_value(session, opacity_v, layers=layers)

        opacity.release(repaint, [st, opacity, editor], [editor], **private)

        # --- vectors ---
        @safe
        def apply_vectors(session, *strengths):
            """Set the vectors' strengths (one per slot, in the order of `vectors`): the image, one generator pass."""
            session = L.set_strengths(session, strengths)
            return session, _pil(L.render_image(session)), L.info_markdown(session)

        gr.on([s.input for s in sliders], apply_vectors, [st, *sliders], [st, after_img, info_md],
              api_name="apply_vectors", trigger_mode="always_last", show_progress="hidden", **light)

        @safe
        def after_sliders(session, opacity_v, editor_v):
            """When a slider is let go: the part map and the paint canvas follow the image (strokes kept)."""
            m = L.model_of(session)
            image, labels = L.render(session)
            layers = (editor_v or {}).get("layers") or []
            return (L.parts_picture(labels, m.palette, m.G.resolution),
                    editor_value(session, opacity_v, layers=layers, image=image, labels=labels))

        gr.on([s.release for s in sliders], after_sliders, [st, opacity, editor], [parts_img, editor],
              trigger_mode="always_last", show_progress="hidden", **private)

        @GPU(duration=60)
        @safe
        def refine(session, steps, opacity_v, progress=gr.Progress()):
            """Refine the vectors at their strengths (EditGAN's self-supervised refinement); bakes them in."""
            before = _pil(L.render(session)[0])
            box = {}
            for kind, value in stream_work(lambda cb: L.refine_vectors(session, steps, cb), progress, "refining"):
                box[kind] = value
            new, report = box["done"]
            return view(new, opacity_v, report, before=before)

        refine_btn.click(refine, [st, refine_steps, opacity], view_out, api_name="refine", **heavy).then(
            refresh_slots, [st], slot_out, **private)

        @safe
        def vectors(session):
            """The vectors of this session in slot order: name, strength, parts, description, origin."""
            return L.vector_table(session)

        @safe
        def reload_vectors(session):
            """Re-read the model's local vectors (others may have saved some); pulled ones are kept."""
            session = L.refresh_vectors(session)
            return session, L.vector_table(session)

        refresh_btn.click(reload_vectors, [st], [st, vectors_json], api_name="refresh_vectors", **light).then(
            refresh_slots, [st], slot_out, **private)
        vectors_btn.click(vectors, [st], [vectors_json], api_name="vectors", **light)

        @safe
        def save_vector(session, name, description, push, repo_id, token, private_repo):
            """Save the last edit as a vector (and optionally push it to a Hub repo)."""
            session, path = L.save_session_vector(session, name, description)
            msg = f"Saved **{path.stem}** to `{path}`."
            if push:
                where = L.push_vector(path, repo_id, token, private_repo)
                msg += f" Pushed to {where}."
            return session, msg

        save_btn.click(save_vector, [st, vec_name, vec_desc, push_cb, push_repo, push_token, private_cb], [st, vec_md],
                       api_name="save_vector", concurrency_limit=4, concurrency_id="hub").then(
            refresh_slots, [st], slot_out, **private)

        @safe
        def load_vector(session, path):
            """Load an edit vector file; it must be made for this model."""
            session = L.load_vector_file(session, path)
            return session, f"Loaded **{session.vectors[-1]['name']}**." if session.vectors else ""

        vec_file.upload(load_vector, [st, vec_file], [st, vec_md], api_name="load_vector", **light).then(
            refresh_slots, [st], slot_out, **private)

        @safe
        def list_hub(session, repo_id):
            """List the vectors of a Hub repo (and whether each fits this model)."""
            rows = L.hub_list(session, repo_id)
            names = [r["name"] for r in rows if r.get("compatible", True)]
            return rows, gr.update(choices=names, value=names[0] if names else None)

        list_btn.click(list_hub, [st, hub_repo], [hub_json, hub_dd], api_name="list_hub", concurrency_limit=4,
                       concurrency_id="hub")

        @safe
        def pull_vector(session, repo_id, name):
            """Pull a vector from a Hub repo into this session (it gets a slider)."""
            session = L.hub_pull(session, repo_id, name)
            return session, f"Pulled **{name}** from {repo_id}."

        pull_btn.click(pull_vector, [st, hub_repo, hub_dd], [st, vec_md], api_name="pull_vector", concurrency_limit=4,
                       concurrency_id="hub").then(refresh_slots, [st], slot_out, **private)

        # --- labelling: a saved model opens in the Edit tab ---
        saved, folder_box = label_tab_events(label_ui, st, heavy, light)
        saved.then(lambda folder: gr.update(value=folder, choices=list(dict.fromkeys(choices + [folder]))),
                   [folder_box], [model_dd], **private).then(
            load_model, [st, model_dd, seed_in, trunc_in, opacity], [*view_out, legend, model_md],
            **dict(heavy, api_visibility="private")).then(
            refresh_slots, [st], slot_out, **private)

        # --- export ---
        @safe
        def export(session):
            """The current image as a PNG whose metadata says it was edited with editgan (and how)."""
            return str(L.export_png(session, _temp_path(".png")))

        export_btn.click(export, [st], [export_file], api_name="export", **light)

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
                                                             css=CSS, max_file_size="20mb")


if __name__ == "__main__":
    main()
