"""The "Label & train a branch" tab: label a few samples of any generator, train its segmentation branch.

The handlers are thin wrappers over `editgan.app_labelling` (pure functions on a `LabelState`).
"""

from __future__ import annotations

import gradio as gr

from editgan import app_labelling as AL
from editgan import app_logic as L

from .common import GPU, HEAVY, HUB, LIGHT, PRIVATE, run_with_progress, safe

LABEL_OPACITY = 0.55
LABEL_INTRO = """**Bring your own StyleGAN2**: load its checkpoint in the Edit tab (Model), then label a few samples here.

1. Name the project and its classes, press **Open / start project** (an existing project opens as it was).
2. Give each numbered cluster a class (right): the canvas shows the proposal.
3. Paint what is still wrong, press **Save label & next** (saved to disk at once; reopen the project any time).
4. After a few labels, **Train the branch**: new samples then start from its prediction; check the previews.
5. **Save model & edit with it**, and push it to the Hub if you like."""


def build(initial: L.Session) -> dict:
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


def wire(ui: dict, st) -> tuple:
    """Wire the labelling tab; returns the "save model" event and the box with the saved folder (the app then loads it)."""
    ls = ui["state"]
    view_out = [ls, ui["status"], ui["editor"], ui["clusters_img"], ui["legend"], *ui["dropdowns"], ui["classes"]]

    @safe
    def label_open(session, name, classes, k, truncation, target, request: gr.Request):
        """Start a labelling project for the loaded model's generator, or open it again (nothing is lost)."""
        return label_view(AL.open_project(session, name, classes, k, truncation, target, namespace=request.session_hash))

    ui["open"].click(label_open, [st, ui["name"], ui["classes"], ui["k"], ui["truncation"], ui["target"]], view_out,
                     api_name="label_open", **HEAVY)

    @safe
    def label_classes(state, classes):
        """Rename, recolour or add classes of the open project (one per line: name #rrggbb)."""
        return label_view(AL.set_classes(AL.require(state), classes))

    ui["set_classes"].click(label_classes, [ls, ui["classes"]], view_out, api_name="label_classes", **LIGHT)

    @safe
    def label_assign(state, *names):
        """Give each cluster a class (class names, one per cluster): the proposal follows."""
        return label_view(AL.assign(AL.require(state), names))

    gr.on([d.input for d in ui["dropdowns"]], label_assign, [ls, *ui["dropdowns"]], view_out, api_name="label_assign",
          trigger_mode="always_last", **LIGHT)

    @safe
    def label_save(state, editor_v):
        """Save the proposal with the painted corrections as this sample's label; the next sample comes up."""
        state, name = AL.save_label(AL.require(state), editor_v)
        return label_view(state)

    ui["save"].click(label_save, [ls, ui["editor"]], view_out, api_name="label_save", **HEAVY)

    @safe
    def label_skip(state):
        """Skip this sample (it is not labelled)."""
        return label_view(AL.skip(AL.require(state)))

    ui["skip"].click(label_skip, [ls], view_out, api_name="label_skip", **LIGHT)

    @safe
    def label_seed(state, seed):
        """Label a given seed (to redo a label: saving again replaces it)."""
        return label_view(AL.go_to_seed(AL.require(state), seed))

    ui["seed"].submit(label_seed, [ls, ui["seed"]], view_out, api_name="label_seed", **LIGHT)

    @GPU(duration=300)
    @safe
    def label_train(state, steps, members, progress=gr.Progress()):
        """Train the segmentation branch on every saved label; returns the view and previews of new samples."""
        state = AL.require(state)
        state = run_with_progress(lambda cb: AL.train(state, steps, members, cb), progress, "training the branch")
        return (*label_view(state), AL.previews(state))

    ui["train"].click(label_train, [ls, ui["steps"], ui["members"]], [*view_out, ui["previews"]],
                      api_name="label_train", **HEAVY)

    @safe
    def label_previews(state):
        """Four more new samples with the branch's part maps (all shown so far are returned)."""
        state = AL.require(state)
        state = state.replace(previews_shown=state.previews_shown + 4)
        return state, AL.previews(state, state.previews_shown)

    ui["more"].click(label_previews, [ls], [ls, ui["previews"]], api_name="label_previews", **LIGHT)

    @safe
    def label_from_branch(state, on):
        """Proposals from the trained branch (on) or from the clusters (off)."""
        state = AL.require(state)
        return label_view(state.replace(from_branch=bool(on) and state.segmenter is not None))

    ui["from_branch"].input(label_from_branch, [ls, ui["from_branch"]], view_out, **PRIVATE)

    @safe
    def label_save_model(state):
        """Save the generator with the trained branch as a model folder; returns its path (the app loads it)."""
        state, folder = AL.save_model(AL.require(state))
        return state, AL.status_markdown(state), f"Saved to `{folder}`; the Edit tab now uses it.", str(folder)

    folder_box = gr.Textbox(visible=False)
    saved = ui["save_model"].click(label_save_model, [ls], [ls, ui["status"], ui["message"], folder_box],
                                   api_name="label_save_model", **LIGHT)

    @safe
    def label_push(state, repo_id, token, private_repo):
        """Push the saved model (generator + branch) to a Hub model repo."""
        url = AL.push_model(AL.require(state), repo_id, token, private_repo)
        return f"Pushed to {url}."

    ui["push"].click(label_push, [ls, ui["repo"], ui["token"], ui["private"]], [ui["message"]], api_name="label_push",
                     **HUB)
    return saved, folder_box
