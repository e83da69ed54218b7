import Form, { type FormProps } from "@rjsf/core";
import { useState } from "react";
import { requiredAsShort } from "./form-parts.js";
import { formTemplates } from "./form-theme.js";

/**
 * react-jsonschema-form as every form here uses it: the app's templates, messages under the fields
 * (none in a list above), no browser validation, and the values checked when the form is submitted;
 * once that has shown messages, on every change, so each message goes away as its field is fixed.
 * Not on blur: messages coming and going would then move the buttons between a click's press and
 * release, and the click would be lost.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function CheckedForm<T = any>(props: Omit<FormProps<T>, "templates" | "liveValidate" | "onError">) {
  const [attempted, setAttempted] = useState(false);
  return (
    <Form<T>
      templates={formTemplates}
      transformErrors={requiredAsShort}
      showErrorList={false}
      focusOnFirstError
      noHtml5Validate
      {...props}
      liveValidate={attempted ? "onChange" : undefined}
      // Without this handler the form also logs the messages as an error.
      onError={() => setAttempted(true)}
    />
  );
}
