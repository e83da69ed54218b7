/**
 * react-jsonschema-form in the dashboard's look. The stock theme draws its array buttons as Bootstrap 3
 * glyph icons, which need a web font the dashboard does not load (it loads none), so those buttons get
 * words instead; everything else keeps the stock markup, styled under `.rjsf` in styles.css.
 */
import { getDefaultRegistry, type FormProps } from "@rjsf/core";
import type { IconButtonProps, ObjectFieldTemplateProps } from "@rjsf/utils";

const StockObjectFieldTemplate = getDefaultRegistry().templates.ObjectFieldTemplate;

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

/**
 * The stock template offers to add keys of any name to an object with `patternProperties`. Where
 * `additionalProperties` is false those patterns only give other spellings of fields the form already
 * shows (a protobuf message's lowerCamelCase names, which the server also accepts): nothing to add.
 */
function ObjectFieldTemplate(props: ObjectFieldTemplateProps) {
  if (props.schema.additionalProperties !== false) return <StockObjectFieldTemplate {...props} />;
  const uiSchema = {
    ...props.uiSchema,
    "ui:options": { ...props.uiSchema?.["ui:options"], expandable: false },
  };
  return <StockObjectFieldTemplate {...props} uiSchema={uiSchema} />;
}

export const formTemplates: FormProps["templates"] = {
  ObjectFieldTemplate,
  ButtonTemplates: {
    AddButton: textButton("Add item"),
    CopyButton: textButton("Copy"),
    MoveDownButton: textButton("Move down"),
    MoveUpButton: textButton("Move up"),
    RemoveButton: textButton("Remove", "danger"),
    ClearButton: textButton("Clear"),
  },
};
