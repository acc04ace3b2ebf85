"""The "Vectors" tab: save the last edit as a vector, share vectors on the Hub, load vector files.

Every vector the session holds gets a strength slider in the Edit tab; after each change
here the sliders follow (`wire`'s `refresh_slots`).
"""

from __future__ import annotations

import gradio as gr

from editgan import app_logic as L

from .common import HUB, LIGHT, PRIVATE, safe


def build(initial: L.Session) -> dict:
    ui: dict = {}
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Save the last edit as a vector**")
            ui["name"] = gr.Textbox(label="Name", placeholder="smile")
            ui["description"] = gr.Textbox(label="Description", placeholder="what the edit does")
            with gr.Row():
                ui["push"] = gr.Checkbox(label="Also push to the Hub", value=False)
                ui["private"] = gr.Checkbox(label="Private repo", value=False)
            ui["push_repo"] = gr.Textbox(label="Hub repo id", placeholder="user/editgan-vectors")
            ui["token"] = gr.Textbox(label="Hub token (write access; not stored)", type="password")
            ui["save"] = gr.Button("Save vector", variant="primary")
        with gr.Column():
            gr.Markdown("**Vectors from the Hub or a file**")
            ui["hub_repo"] = gr.Textbox(label="Hub repo id", placeholder="user/editgan-vectors")
            ui["list"] = gr.Button("List")
            ui["hub_dd"] = gr.Dropdown(choices=[], label="Vector", allow_custom_value=True)
            ui["pull"] = gr.Button("Pull")
            ui["hub_json"] = gr.JSON(label="Vectors in the repo", value=[])
            ui["file"] = gr.File(label="Or load a vector file (.safetensors)", file_types=[".safetensors"],
                                 type="filepath", height=100)
    ui["message"] = gr.Markdown("")
    with gr.Row():
        ui["reload"] = gr.Button("Reload local vectors")
        ui["list_mine"] = gr.Button("List this session's vectors")
    ui["table"] = gr.JSON(value=L.vector_table(initial), label="This session's vectors (slider order)")
    return ui


def wire(ui: dict, st, refresh_slots, slot_out: list) -> None:
    def then_sliders(event):
        return event.then(refresh_slots, [st], slot_out, **PRIVATE).then(
            safe(L.vector_table), [st], [ui["table"]], **PRIVATE)

    @safe
    def vectors(session):
        """The vectors of this session in slot order: name, strength, parts, description, origin."""
        return L.vector_table(session)

    ui["list_mine"].click(vectors, [st], [ui["table"]], api_name="vectors", **LIGHT)

    @safe
    def reload_vectors(session):
        """Re-read the model's local vectors (others may have saved some); pulled ones are kept."""
        session = L.refresh_vectors(session)
        return session, L.vector_table(session)

    then_sliders(ui["reload"].click(reload_vectors, [st], [st, ui["table"]], api_name="refresh_vectors", **LIGHT))

    @safe
    def save_vector(session, name, description, push, repo_id, token, private_repo, request: gr.Request):
        """Save the last edit as a vector (and optionally push it to a Hub repo)."""
        session, path = L.save_session_vector(session, name, description, namespace=request.session_hash)
        msg = f"Saved **{path.stem}**" + ("." if L.is_public() else f" to `{path}`.")
        if push:
            try:
                where = L.push_vector(path, repo_id, token, private_repo)
            except L.AppError as e:
                raise L.AppError(f"saved {path.stem!r} here (press Reload local vectors to use it), but {e}") from e
            msg += f" Pushed to {where}."
        return session, msg

    then_sliders(ui["save"].click(
        save_vector, [st, ui["name"], ui["description"], ui["push"], ui["push_repo"], ui["token"], ui["private"]],
        [st, ui["message"]], api_name="save_vector", **HUB))

    @safe
    def load_vector(session, path):
        """Load an edit vector file; it must be made for this model."""
        session = L.load_vector_file(session, path)
        return session, f"Loaded **{session.vectors[-1]['name']}**." if session.vectors else ""

    then_sliders(ui["file"].upload(load_vector, [st, ui["file"]], [st, ui["message"]], api_name="load_vector", **LIGHT))

    @safe
    def list_hub(session, repo_id):
        """List the vectors of a Hub repo (and whether each fits this model)."""
        rows = L.hub_list(session, repo_id)
        names = [r["name"] for r in rows if r.get("compatible", True)]
        return rows, gr.update(choices=names, value=names[0] if names else None)

    ui["list"].click(list_hub, [st, ui["hub_repo"]], [ui["hub_json"], ui["hub_dd"]], api_name="list_hub", **HUB)

    @safe
    def pull_vector(session, repo_id, name):
        """Pull a vector from a Hub repo into this session (it gets a slider)."""
        session = L.hub_pull(session, repo_id, name)
        return session, f"Pulled **{name}** from {repo_id}."

    then_sliders(ui["pull"].click(pull_vector, [st, ui["hub_repo"], ui["hub_dd"]], [st, ui["message"]],
                                  api_name="pull_vector", **HUB))
