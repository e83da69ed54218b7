/**
 * react-jsonschema-form in the dashboard's look. The stock theme draws its array buttons as Bootstrap 3
 * glyph icons, which need a web font the dashboard does not load (it loads none), so those buttons get
 * words instead; everything else keeps the stock markup, styled under `.rjsf` in styles.css.
 */
import type { FormProps } from "@rjsf/core";
import type { IconButtonProps } from "@rjsf/utils";

function textButton(text: string, tone = "") {
  function TextButton({
    iconType: _type,
    icon: _icon,
    registry: _registry,
    uiSchema: _ui,
    ...rest
  }: IconButtonProps) {
    return (
      <button type="button" {...rest} className={`button small ${tone}`}>
        {text}
      </button>
    );
  }
  TextButton.displayName = `TextButton(${text})`;
  return TextButton;
}

export const formTemplates: FormProps["templates"] = {
  ButtonTemplates: {
    AddButton: textButton("Add item"),
    CopyButton: textButton("Copy"),
    MoveDownButton: textButton("Move down"),
    MoveUpButton: textButton("Move up"),
    RemoveButton: textButton("Remove", "danger"),
    ClearButton: textButton("Clear"),
  },
};
