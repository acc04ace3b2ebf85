"""The "Edit" tab: pick a sample or upload a photo, paint its part map, edit, drive vectors, export.

`build` lays the components out and returns them by name; `wire` connects their events to
thin handlers over `editgan.app_logic`. Every action is a step of the session's history
(shown as thumbnails; click one to go back to it; undo and redo walk it).
"""

from __future__ import annotations

import random

import gradio as gr

from editgan import app_logic as L

from .common import GPU, HEAVY, LIGHT, PRIVATE, ProgressImage, pil, run_with_progress, safe, stream_work, temp_path

SLOTS = L.MAX_SLOTS
OPACITY = 0.6


# ----- views of a session ---------------------------------------------------------------------------
def editor_value(session: L.Session, opacity: float, layers=None, image=None, labels=None) -> dict:
    model = L.model_of(session)
    if image is None:
        image, labels = L.render(session)
    bg = L.blend_picture(image, labels, model.palette, opacity)
    return {"background": bg, "layers": list(layers or []), "composite": bg}


def brush(session: L.Session) -> gr.Brush:
    """The brush for a session's model: its class colours as the palette."""
    model = L.model_of(session)
    colors = L.brush_colors(model.palette) or ["#808080"]
    return gr.Brush(colors=colors, default_color=colors[-1], color_mode="fixed",
                    default_size=2 * L.display_scale(model.G.resolution))


def editor_component(session: L.Session, opacity: float) -> gr.ImageEditor:
    """The paint canvas updated for a (newly loaded) model."""
    return gr.ImageEditor(value=editor_value(session, opacity), brush=brush(session),
                          interactive=L.model_of(session).segmenter is not None)


def view(session: L.Session, opacity: float, report: dict | None = None, before=None):
    """(state, before image, current image, part map, paint canvas, info) for a session."""
    model = L.model_of(session)
    image, labels = L.render(session)
    current = pil(image)
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


def history_view(session: L.Session):
    """The history gallery: a thumbnail per step, the shown one selected."""
    return gr.Gallery(value=L.history_thumbnails(session), selected_index=session.position)


# ----- layout -------------------------------------------------------------------------------------------
def build(initial: L.Session, model_choices: list[str], seed: int, truncation: float) -> dict:
    """The components of the tab, by name."""
    ui: dict = {}
    model = L.model_of(initial)
    image, labels = L.render(initial)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            with gr.Tabs():
                with gr.Tab("Sample"):
                    ui["seed"] = gr.Number(value=seed, label="Seed", precision=0, minimum=0, maximum=2**32 - 1)
                    with gr.Row():
                        ui["random"] = gr.Button("Random seed", size="sm")
                        ui["sample"] = gr.Button("Sample", variant="primary", size="sm", elem_id="sample-btn")
                    ui["truncation"] = gr.Slider(0.0, 1.0, value=truncation, step=0.05, label="Truncation")
                with gr.Tab("Upload a photo"):
                    ui["photo"] = gr.File(label="Photo (any size or mode; centre-cropped to a square)",
                                          file_types=["image"], type="filepath", height=120, elem_id="photo")
                    ui["embed_steps"] = gr.Slider(0 if model.encoder is not None else 10, L.MAX_EMBED_STEPS,
                                                  value=100, step=10, label="Optimisation steps (after the encoder)"
                                                  if model.encoder is not None else "Embedding steps")
                    ui["faithful"] = gr.Checkbox(False, label="Faithful (pivotal tuning: fits a copy of the generator "
                                                 "to the photo, for this session only; slower)", elem_id="faithful")
                    ui["pti_steps"] = gr.Slider(50, L.MAX_PTI_STEPS, value=300, step=50, label="Pivotal tuning steps",
                                                elem_id="pti-steps")
                    ui["embed"] = gr.Button("Embed", variant="primary", elem_id="embed-btn")
                    ui["target"] = gr.Image(label="Photo as the model sees it", type="pil", format="png",
                                            interactive=False, height=160, elem_classes="editgan-pixelated")
            with gr.Accordion("Model", open=False):
                ui["model"] = gr.Dropdown(choices=model_choices, value=initial.model, allow_custom_value=True,
                                          label="A shipped domain, a model folder or a Hub repo id")
                ui["load"] = gr.Button("Load model", size="sm")
                ui["model_md"] = gr.Markdown(model_markdown(initial))
        with gr.Column(scale=2, min_width=420):
            ui["editor"] = gr.ImageEditor(
                value=editor_value(initial, OPACITY, image=image, labels=labels),
                label="Paint the part map (brush colours = the model's parts)", type="numpy", image_mode="RGBA",
                format="png", sources=[], transforms=[], layers=gr.LayerOptions(allow_additional_layers=False),
                brush=brush(initial), eraser=gr.Eraser(), interactive=model.segmenter is not None,
                canvas_size=(512, 512), height=600, elem_id="editor", buttons=[])
        with gr.Column(scale=1, min_width=240):
            ui["legend"] = gr.HTML(L.legend_html(model.class_names, model.palette), elem_id="legend")
            ui["opacity"] = gr.Slider(0.0, 1.0, value=OPACITY, step=0.05, label="Part map opacity")
            ui["edit_steps"] = gr.Slider(10, L.MAX_EDIT_STEPS, value=100, step=10, label="Edit steps (early stop)")
            with gr.Row():
                ui["edit"] = gr.Button("Edit", variant="primary", elem_id="edit-btn")
                ui["undo"] = gr.Button("Undo", elem_id="undo-btn")
                ui["redo"] = gr.Button("Redo", elem_id="redo-btn")
            with gr.Accordion("Edit with a part-map file", open=False):
                ui["parts_file"] = gr.File(label="Part map PNG in the class colours", file_types=["image"],
                                           type="filepath", height=100)
                ui["edit_parts"] = gr.Button("Edit with this part map", size="sm")
    with gr.Row(equal_height=True):
        img_args = dict(type="pil", format="png", interactive=False, height=300,
                        elem_classes="editgan-pixelated", buttons=["download", "fullscreen"])
        ui["before"] = gr.Image(value=pil(image), label="Before", elem_id="before", **img_args)
        ui["after"] = gr.Image(value=pil(image), label="After (current image)", elem_id="after", **img_args)
        ui["parts"] = gr.Image(value=L.parts_picture(labels, model.palette, model.G.resolution),
                               label="Part map", elem_id="parts", **img_args)
    ui["info"] = gr.Markdown(L.info_markdown(initial), elem_id="info")
    ui["history"] = gr.Gallery(value=L.history_thumbnails(initial), label="History (click a step to go back to it)",
                               columns=10, rows=1, height=150, object_fit="contain", allow_preview=False,
                               selected_index=initial.position, elem_id="history")
    with gr.Accordion("Edit vectors: strength sliders", open=True):
        ui["sliders"] = []
        with gr.Row():
            for spec in L.slot_specs(initial, SLOTS):
                ui["sliders"].append(gr.Slider(*L.STRENGTH_RANGE, value=spec["value"], step=0.1, label=spec["label"],
                                               info=spec["info"], visible=spec["visible"], min_width=220,
                                               elem_classes="editgan-vector-slider"))
        with gr.Row(equal_height=True):
            ui["combine"] = gr.Radio(list(L.COMBINE_MODES), value=initial.combine_mode, label="Combine vectors",
                                     info="orthogonal: each vector is kept off the ones before it (slider order)",
                                     elem_id="combine-mode")
            ui["refine_steps"] = gr.Slider(10, 30, value=20, step=1, label="Refine steps")
            ui["refine"] = gr.Button("Refine (bakes the vectors into the image)")
    with gr.Row():
        with gr.Column(scale=1, min_width=200):
            ui["export"] = gr.Button("Export PNG (with editgan metadata)", elem_id="export-btn")
        ui["export_file"] = gr.File(label="Edited image", interactive=False, height=80, scale=2)
    with gr.Accordion("Export a strength sweep (GIF / MP4) of the vectors", open=False):
        with gr.Row(equal_height=True):
            ui["sweep_lo"] = gr.Number(value=-2.0, label="From strength x", minimum=-4, maximum=4)
            ui["sweep_hi"] = gr.Number(value=2.0, label="To strength x", minimum=-4, maximum=4)
            ui["sweep_frames"] = gr.Slider(2, L.MAX_SWEEP_FRAMES, value=9, step=1, label="Frames")
            ui["sweep_fps"] = gr.Slider(1, 30, value=8, step=1, label="Frames per second")
            ui["sweep_format"] = gr.Radio(["gif", "mp4"], value="gif", label="Format")
            ui["sweep"] = gr.Button("Export sweep", elem_id="sweep-btn")
        gr.Markdown("Frame at t applies each vector at t x its slider's strength: t = 1 is the image shown, "
                    "t = 0 the image without vectors. MP4 needs `pip install -r requirements-video.txt`.")
        ui["sweep_file"] = gr.File(label="Sweep", interactive=False, height=80)
    return ui


# ----- events -------------------------------------------------------------------------------------------
def wire(ui: dict, st) -> dict:
    """Connect the tab's events; returns what other tabs chain on (the model-loaded event, `load_model`, `refresh_slots`)."""
    opacity, editor = ui["opacity"], ui["editor"]
    view_out = [st, ui["before"], ui["after"], ui["parts"], editor, ui["info"]]
    slot_out = list(ui["sliders"])
    history_out = [ui["history"]]

    def refresh_slots(session):
        return tuple(slot_updates(session))

    def refresh_history(session):
        return history_view(session)

    def after(event, slots: bool = False):
        """UI refreshers after an action: the history gallery, and the sliders when strengths may have moved."""
        event = event.then(safe(refresh_history), [st], history_out, **PRIVATE)
        if slots:
            event = event.then(refresh_slots, [st], slot_out, **PRIVATE)
        return event

    # --- model ---
    @safe
    def load_model(session, source, seed_v, trunc_v, opacity_v, request: gr.Request):
        """Load a model (shipped domain, folder, checkpoint or Hub repo id) and sample a seed on it."""
        session = L.new_session((source or "").strip(), seed_v, trunc_v, namespace=request.session_hash, check=True)
        m = L.model_of(session)
        out = list(view(session, opacity_v))
        out[4] = editor_component(session, opacity_v)
        return (*out, L.legend_html(m.class_names, m.palette), model_markdown(session))

    load_inputs = [st, ui["model"], ui["seed"], ui["truncation"], opacity]
    load_outputs = [*view_out, ui["legend"], ui["model_md"]]
    loaded = after(ui["load"].click(load_model, load_inputs, load_outputs, api_name="load_model", **HEAVY), slots=True)

    # --- sampling ---
    @safe
    def sample(session, seed_v, trunc_v, opacity_v):
        """A new image from a seed and truncation (edits are dropped; Undo restores them)."""
        return view(L.sample(session, seed_v, trunc_v), opacity_v)

    sample_args = dict(fn=sample, inputs=[st, ui["seed"], ui["truncation"], opacity], outputs=view_out)
    after(ui["sample"].click(**sample_args, api_name="sample", **LIGHT))
    after(ui["seed"].submit(**sample_args, **PRIVATE))
    after(ui["random"].click(lambda: random.randrange(2**31), None, ui["seed"], **PRIVATE).then(**sample_args, **PRIVATE))

    # --- embedding ---
    @GPU(duration=120)
    @safe
    def embed(session, photo, steps, opacity_v, faithful=False, pti_steps=300, progress=gr.Progress()):
        """Embed an uploaded photo (any size or mode) into W+; it becomes the image to edit.

        The encoder's guess shows at once, then the optimisation (and, when faithful, pivotal tuning) runs."""
        box = ProgressImage()
        pti = int(pti_steps) if faithful else 0
        work = lambda cb: L.embed_photo(session, photo, steps, pti, box.wrap(cb))
        for kind, value in stream_work(work, progress, "embedding", box):
            if kind == "preview":
                yield gr.skip(), gr.skip(), value, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            else:
                new, report, target = value
                yield (*view(new, opacity_v, report), pil(target))

    after(ui["embed"].click(embed, [st, ui["photo"], ui["embed_steps"], opacity, ui["faithful"], ui["pti_steps"]],
                            [*view_out, ui["target"]], api_name="embed", **HEAVY))

    # --- editing ---
    def run_edit_stream(session, target, steps, opacity_v, progress):
        model = L.model_of(session)
        before = pil(L.render(session)[0])
        rec = L.RecordingGenerator(L.generator_of(session, model))
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

    after(ui["edit"].click(edit, [st, editor, ui["edit_steps"], opacity], view_out, api_name="edit", **HEAVY))
    after(ui["edit_parts"].click(edit_parts, [st, ui["parts_file"], ui["edit_steps"], opacity], view_out,
                                 api_name="edit_parts", **HEAVY))

    # --- history ---
    @safe
    def undo(session, opacity_v):
        """Go back one step of the history (an edit, refinement, sample, embedding or slider change)."""
        return view(L.undo(session), opacity_v)

    @safe
    def redo(session, opacity_v):
        """Go forward one step of the history (after Undo)."""
        return view(L.redo(session), opacity_v)

    @safe
    def goto_step(session, index, opacity_v):
        """Return to step `index` of the history (0 = the first; see `history`); later steps are kept for redo."""
        return view(L.goto_step(session, index), opacity_v)

    @safe
    def history(session):
        """The session's steps: index, label, kind, and which one is shown."""
        return L.history_table(session)

    @safe
    def pick_step(session, opacity_v, evt: gr.SelectData):
        return view(L.goto_step(session, evt.index), opacity_v)

    after(ui["undo"].click(undo, [st, opacity], view_out, api_name="undo", **LIGHT), slots=True)
    after(ui["redo"].click(redo, [st, opacity], view_out, api_name="redo", **LIGHT), slots=True)
    step_box = gr.Number(visible=False, precision=0)
    after(step_box.submit(goto_step, [st, step_box, opacity], view_out, api_name="goto_step", **LIGHT), slots=True)
    history_json = gr.JSON(visible=False)
    history_btn = gr.Button(visible=False)
    history_btn.click(history, [st], [history_json], api_name="history", **LIGHT)
    ui["history"].select(pick_step, [st, opacity], view_out, **PRIVATE).then(
        refresh_slots, [st], slot_out, **PRIVATE)

    @safe
    def repaint(session, opacity_v, editor_v):
        """The canvas at a new opacity, keeping what was painted."""
        return editor_value(session, opacity_v, layers=(editor_v or {}).get("layers") or [])

    opacity.release(repaint, [st, opacity, editor], [editor], **PRIVATE)

    # --- vector sliders ---
    @safe
    def apply_vectors(session, *strengths):
        """Set the vectors' strengths (one per slot, in the order of `vectors`): the image, one generator pass."""
        session = L.set_strengths(session, strengths)
        return session, pil(L.render_image(session)), L.info_markdown(session)

    gr.on([s.input for s in ui["sliders"]], apply_vectors, [st, *ui["sliders"]], [st, ui["after"], ui["info"]],
          api_name="apply_vectors", trigger_mode="always_last", show_progress="hidden", **LIGHT)

    @safe
    def after_sliders(session, opacity_v, editor_v):
        """When a slider is let go: the part map, the canvas (strokes kept) and the history follow the image."""
        m = L.model_of(session)
        image, labels = L.render(session)
        layers = (editor_v or {}).get("layers") or []
        return (L.parts_picture(labels, m.palette, m.G.resolution),
                editor_value(session, opacity_v, layers=layers, image=image, labels=labels), history_view(session))

    gr.on([s.release for s in ui["sliders"]], after_sliders, [st, opacity, editor], [ui["parts"], editor, ui["history"]],
          trigger_mode="always_last", show_progress="hidden", **PRIVATE)

    @safe
    def set_combine_mode(session, mode, opacity_v):
        """How the vectors combine: "sum" or "orthogonal" (each kept off the ones before it, in slider order)."""
        return view(L.set_combine_mode(session, mode), opacity_v)

    ui["combine"].input(set_combine_mode, [st, ui["combine"], opacity], view_out, api_name="set_combine_mode", **LIGHT)

    @GPU(duration=60)
    @safe
    def refine(session, steps, opacity_v, progress=gr.Progress()):
        """Refine the vectors at their strengths (EditGAN's self-supervised refinement); bakes them in."""
        before = pil(L.render(session)[0])
        new, report = run_with_progress(lambda cb: L.refine_vectors(session, steps, cb), progress, "refining")
        return view(new, opacity_v, report, before=before)

    after(ui["refine"].click(refine, [st, ui["refine_steps"], opacity], view_out, api_name="refine", **HEAVY), slots=True)

    # --- export ---
    @safe
    def export(session):
        """The current image as a PNG whose metadata says it was edited with editgan (and how)."""
        return str(L.export_png(session, temp_path(".png")))

    ui["export"].click(export, [st], [ui["export_file"]], api_name="export", **LIGHT)

    @safe
    def sweep(session, lo, hi, frames, fps, fmt, progress=gr.Progress()):
        """The vectors at their strengths swept from lo to hi (x each strength) as an animated GIF or MP4."""
        if fmt not in ("gif", "mp4"):
            raise L.AppError(f"a sweep is a gif or an mp4, got {fmt!r}")
        path = temp_path(f".{fmt}")
        return str(run_with_progress(lambda cb: L.export_sweep(session, path, lo, hi, frames, fps, cb), progress,
                                     "drawing the sweep"))

    ui["sweep"].click(sweep, [st, ui["sweep_lo"], ui["sweep_hi"], ui["sweep_frames"], ui["sweep_fps"],
                              ui["sweep_format"]], [ui["sweep_file"]], api_name="sweep", **HEAVY)

    return {"loaded": loaded, "load_model": load_model, "load_inputs": load_inputs, "load_outputs": load_outputs,
            "refresh_slots": refresh_slots, "slot_out": slot_out, "after": after}
