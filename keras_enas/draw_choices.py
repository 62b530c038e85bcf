"""A generic drawing of a user's choice graph: each choice with its chosen candidate(s)."""

from keras_enas import canvas as canvas_lib
from keras_enas import layout as layout_lib

CHOICE_COLOR, OTHER_COLOR = "#cfe2f3", "#eeeeee"


def choice_graph(space, arc):
    """`(inputs, labels)` of the drawing: node → its drawn inputs, node → box label.

    Op choices read their input layer; input choices read only their CHOSEN inputs.
    Layers that are not choices appear as grey boxes named after the layer.
    """
    decoded = {name: value for name, value, _ in space.decode(arc).choices}
    inputs, labels = {}, {}
    for c in space.choices:
        value = decoded[c["name"]]
        if c["kind"] == "op":
            sources = list(c.get("inputs") or [])
            labels[c["name"]] = f"{c['name']}: {c['candidates'][value]}"
        else:
            picked = value if isinstance(value, list) else [value]
            sources = [c["candidates"][j] for j in dict.fromkeys(picked)]
            labels[c["name"]] = f"{c['name']}: {c.get('reduction', 'sum')} of {len(picked)}"
        for source in sources:
            inputs.setdefault(source, [])
            labels.setdefault(source, source)
        inputs[c["name"]] = sources
    return inputs, labels


def draw_choices(space, arc, path=None, title=None):
    """Draws the choice graph of `arc` in a `UserSpace`; saves it to `path` if given.

    Args:
        space: a `keras_enas.search_spaces.user.UserSpace` (e.g. rebuilt from the
            `space_config` of `best_architecture.json`).
        arc: the arc (or `{choice name: index or list}`).
        path: PNG file to write, or None.
        title: figure title (default: the number of choices).

    Returns:
        The matplotlib Figure.

    Example:

    ```python
    draw_choices(UserSpace(**record["space_config"]), record["arc"].split(), "choices.png")
    ```
    """
    if isinstance(arc, dict):
        arc = space.encode(arc)
    else:
        arc = space.validate([int(a) for a in arc])
    inputs, labels = choice_graph(space, arc)
    placed = layout_lib.layered_layout(inputs, x_spacing=3.2, y_spacing=1.0)
    canvas = canvas_lib.Canvas()
    choices = {c["name"] for c in space.choices}
    for node, sources in inputs.items():
        for source in sources:
            route = placed.routes.get((source, node), ())
            canvas.curve([placed.positions[source], *route, placed.positions[node]])
    for node, xy in placed.positions.items():
        if node in labels:
            canvas.box(
                xy,
                labels[node],
                CHOICE_COLOR if node in choices else OTHER_COLOR,
                canvas_lib.label_width(labels[node]),
            )
    figure = canvas.finish(title or f"{len(space.choices)} choices")
    if path:
        figure.savefig(path, dpi=100)
    return figure


def figure(architecture, title=None):
    """The registry drawer of the "user" space: a decoded `UserArchitecture` → Figure.

    The architecture carries its space's choices (`space_choices`), so no model is needed.

    Raises:
        ValueError: if `architecture` does not carry its space's choices.
    """
    from keras_enas.search_spaces.user import UserSpace  # pylint: disable=g-import-not-at-top

    if not getattr(architecture, "space_choices", None):
        raise ValueError(
            "`architecture` must be a UserArchitecture decoded by a UserSpace. "
            f"Received: {architecture!r}"
        )
    space = UserSpace([dict(c) for c in architecture.space_choices])
    return draw_choices(space, architecture.to_dict(), title=title)


__all__ = ["choice_graph", "draw_choices", "figure"]
