"""The Dashboards screen's variable selector: the variables on the left, the highlighted one's values
on the right (space toggles a value; a single-valued variable keeps one), enter applies, esc cancels."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, SelectionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from engine.grafana_vars import ALL, Variable


class VariablesDialog(ModalScreen[dict[str, list[str]] | None]):
    """Dismissed with the chosen values of every variable, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("enter", "apply", "Apply", priority=True),
    ]
    DEFAULT_CSS = """
    VariablesDialog { align: center middle; }
    VariablesDialog > Vertical { width: 76; max-width: 100%; height: 18; max-height: 100%;
                                 border: round $accent; background: $surface; }
    VariablesDialog Horizontal { height: 1fr; }
    VariablesDialog #vars { width: 26; height: 1fr; }
    VariablesDialog #values { width: 1fr; height: 1fr; }
    VariablesDialog #hint { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, variables: list[Variable]) -> None:
        super().__init__()
        self.variables = variables
        self.choices = {v.name: list(v.current) for v in variables}
        self.current: Variable = variables[0]
        self._filling = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Variables"
            with Horizontal():
                yield OptionList(*(Option(Text(v.label), id=v.name) for v in self.variables), id="vars")
                yield SelectionList[str](id="values")
            yield Static(Text("tab: values · space: toggle · enter: apply · esc: cancel"), id="hint")

    def on_mount(self) -> None:
        self._fill(self.variables[0])
        self.query_one("#values").focus()

    @on(OptionList.OptionHighlighted, "#vars")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        var = next((v for v in self.variables if v.name == event.option.id), None)
        if var is not None and var is not self.current:
            self._fill(var)

    def _fill(self, var: Variable) -> None:
        """Show ``var``'s values, ticked as chosen so far."""
        self.current = var
        chosen = self.choices[var.name]
        values = self.query_one("#values", SelectionList)
        self._filling = True
        values.clear_options()
        options = ([(ALL, "All")] if var.include_all else []) + [(v, v) for v in var.options]
        values.add_options([Selection(Text(label), value, value in chosen) for value, label in options])
        values.border_title = Content(f"{var.label}{' (several)' if var.multi else ''}")  # not markup
        self._filling = False

    @on(SelectionList.SelectionToggled, "#values")
    def _toggled(self, event: SelectionList.SelectionToggled) -> None:
        if self._filling:
            return
        values = self.query_one("#values", SelectionList)
        value = event.selection.value
        picked = value in values.selected
        if picked and (not self.current.multi or value == ALL):
            keep = [value]  # one value; or "All", which stands for every value
        elif picked:
            keep = [v for v in values.selected if v != ALL]
        else:
            keep = list(values.selected)
        self._filling = True
        for v in list(values.selected):
            if v not in keep:
                values.deselect(v)
        self._filling = False
        self.choices[self.current.name] = keep

    def action_apply(self) -> None:
        self.dismiss({name: values for name, values in self.choices.items() if values})
