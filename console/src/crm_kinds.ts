// The CRM connection form per kind: which fields the admin fills in, in which order, with
// help on where each value is found in the vendor's admin pages. Presentation only: the
// server validates every value and its answer's field errors are shown next to the fields.
import type { FieldSpec } from "./dom";
import type { Key } from "./i18n";

export interface AuthOption {
  type: string; // the API's auth.type; "" = no authentication
  label: Key;
  fields: FieldSpec[];
  secret?: FieldSpec; // write-only: never shown back, only "stored"
}

export interface KindForm {
  kind: string;
  label: Key;
  baseUrlHelp: Key;
  auth: AuthOption[];
  extra?: FieldSpec[];
  delegable?: boolean; // the API accepts access "delegated" (the CRM knows Entra identities)
}

const clientId = (help: Key): FieldSpec => ({ path: "auth.clientId", label: "crm.field.client_id", help, required: true });
const username = (help: Key): FieldSpec => ({ path: "auth.username", label: "crm.field.username", help, required: true });
const secret = (label: Key, help: Key, kind: FieldSpec["kind"] = "secret"): FieldSpec => ({ path: "secret", label, help, kind });
const tokenUrl = (help: Key): FieldSpec => ({ path: "auth.tokenUrl", label: "crm.field.token_url", help, kind: "url", required: true });

export const KINDS: KindForm[] = [
  {
    kind: "rest",
    label: "crm.kind.rest",
    baseUrlHelp: "crm.help.rest.base_url",
    auth: [
      { type: "", label: "crm.auth.none", fields: [] },
      {
        type: "api_key",
        label: "crm.auth.api_key",
        fields: [
          { path: "auth.header", label: "crm.field.header", help: "crm.help.rest.header", placeholder: "Authorization" },
          { path: "auth.scheme", label: "crm.field.scheme", help: "crm.help.rest.scheme", placeholder: "Bearer" },
        ],
        secret: secret("crm.field.api_token", "crm.help.rest.token"),
      },
      {
        type: "basic",
        label: "crm.auth.basic",
        fields: [username("crm.help.rest.username")],
        secret: secret("crm.field.password", "crm.help.rest.password"),
      },
    ],
    extra: [
      { path: "rest.recordType", label: "crm.field.rest.record_type", help: "crm.help.rest.record_type", placeholder: "contact" },
      { path: "rest.phoneSearch", label: "crm.field.rest.phone_search", help: "crm.help.rest.phone_search", placeholder: "/people?phone={value}" },
      { path: "rest.emailSearch", label: "crm.field.rest.email_search", help: "crm.help.rest.email_search", placeholder: "/people?email={value}" },
      { path: "rest.nameSearch", label: "crm.field.rest.name_search", help: "crm.help.rest.name_search" },
      { path: "rest.resultsPath", label: "crm.field.rest.results_path", help: "crm.help.rest.results_path", placeholder: "$" },
      { path: "rest.nextPath", label: "crm.field.rest.next_path", help: "crm.help.rest.next_path" },
      { path: "rest.getPath", label: "crm.field.rest.get_path", help: "crm.help.rest.get_path", placeholder: "/people/{id}" },
      { path: "rest.recordPath", label: "crm.field.rest.record_path", help: "crm.help.rest.record_path", placeholder: "$" },
      { path: "rest.mapping.id", label: "crm.field.rest.mapping_id", help: "crm.help.rest.mapping_id", placeholder: "$.id" },
      { path: "rest.mapping.title", label: "crm.field.rest.mapping_title", help: "crm.help.rest.mapping_title", placeholder: "$.name" },
      { path: "rest.uiUrlTemplate", label: "crm.field.rest.ui_url_template", help: "crm.help.rest.ui_url_template" },
    ],
  },
  {
    kind: "salesforce",
    label: "crm.kind.salesforce",
    baseUrlHelp: "crm.help.salesforce.base_url",
    auth: [
      {
        type: "salesforce_client_credentials",
        label: "crm.auth.salesforce_client_credentials",
        fields: [clientId("crm.help.salesforce.client_id")],
        secret: secret("crm.field.consumer_secret", "crm.help.salesforce.consumer_secret"),
      },
      {
        type: "salesforce_jwt",
        label: "crm.auth.salesforce_jwt",
        fields: [
          { path: "auth.loginUrl", label: "crm.field.login_url", help: "crm.help.salesforce.login_url", kind: "url", placeholder: "https://login.salesforce.com" },
          clientId("crm.help.salesforce.client_id"),
          username("crm.help.salesforce.username"),
        ],
        secret: secret("crm.field.private_key", "crm.help.salesforce.private_key", "textarea"),
      },
    ],
    extra: [{ path: "taskExternalIdField", label: "crm.field.task_external_id_field", help: "crm.help.salesforce.task_external_id_field" }],
  },
  {
    kind: "dynamics",
    label: "crm.kind.dynamics",
    baseUrlHelp: "crm.help.dynamics.base_url",
    delegable: true,
    auth: [
      {
        type: "entra_client_credentials",
        label: "crm.auth.entra_client_credentials",
        fields: [
          { path: "auth.directoryTenantId", label: "crm.field.directory_tenant_id", help: "crm.help.dynamics.directory_tenant_id", required: true },
          clientId("crm.help.dynamics.client_id"),
        ],
        secret: secret("crm.field.client_secret", "crm.help.dynamics.client_secret"),
      },
    ],
  },
  {
    kind: "zendesk",
    label: "crm.kind.zendesk",
    baseUrlHelp: "crm.help.zendesk.base_url",
    auth: [
      {
        type: "api_key",
        label: "crm.auth.api_token",
        fields: [username("crm.help.zendesk.username")],
        secret: secret("crm.field.api_token", "crm.help.zendesk.token"),
      },
    ],
  },
  {
    kind: "servicenow",
    label: "crm.kind.servicenow",
    baseUrlHelp: "crm.help.servicenow.base_url",
    auth: [
      {
        type: "basic",
        label: "crm.auth.basic",
        fields: [username("crm.help.servicenow.username")],
        secret: secret("crm.field.password", "crm.help.servicenow.password"),
      },
      {
        type: "oauth_client_credentials",
        label: "crm.auth.oauth_client_credentials",
        fields: [tokenUrl("crm.help.servicenow.token_url"), clientId("crm.help.servicenow.client_id")],
        secret: secret("crm.field.client_secret", "crm.help.servicenow.client_secret"),
      },
    ],
  },
  {
    kind: "kustomer",
    label: "crm.kind.kustomer",
    baseUrlHelp: "crm.help.kustomer.base_url",
    auth: [{ type: "api_key", label: "crm.auth.api_key", fields: [], secret: secret("crm.field.api_key", "crm.help.kustomer.key") }],
  },
  {
    kind: "freshdesk",
    label: "crm.kind.freshdesk",
    baseUrlHelp: "crm.help.freshdesk.base_url",
    auth: [{ type: "api_key", label: "crm.auth.api_key", fields: [], secret: secret("crm.field.api_key", "crm.help.freshdesk.key") }],
  },
  {
    kind: "oracle",
    label: "crm.kind.oracle",
    baseUrlHelp: "crm.help.oracle.base_url",
    auth: [
      {
        type: "basic",
        label: "crm.auth.basic",
        fields: [username("crm.help.oracle.username")],
        secret: secret("crm.field.password", "crm.help.oracle.password"),
      },
      {
        type: "oauth_client_credentials",
        label: "crm.auth.oauth_client_credentials",
        fields: [
          tokenUrl("crm.help.oracle.token_url"),
          clientId("crm.help.oracle.client_id"),
          { path: "auth.scope", label: "crm.field.scope", help: "crm.help.oracle.scope" },
        ],
        secret: secret("crm.field.client_secret", "crm.help.oracle.client_secret"),
      },
    ],
  },
];

export function kindForm(kind: string): KindForm {
  return KINDS.find((k) => k.kind === kind) ?? KINDS[0];
}
