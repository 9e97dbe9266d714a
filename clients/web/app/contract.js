// The contract between the platform and this page: the JSON Schema files that edgeline_contract
// generates (served under /app/contract/ and kept offline by the service worker), and a validator
// for the subset of JSON Schema they use. It knows the same keywords as
// edgeline_contract/jsonschema.py and refuses a schema with any other, so no rule is ever skipped.

export const PAGE_VERSION = "1.1.0"; // compared with a manifest's min_client_version

const KEYWORDS = new Set([
  "$schema", "$id", "$defs", "$ref", "title", "description", "default", "examples",
  "type", "enum", "const", "properties", "required", "additionalProperties",
  "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "allOf", "if", "then", "format",
]);

// RFC 3339 with a time zone, the one format the contract uses: the same rule as
// edgeline_contract.jsonschema.parse_date_time (a real moment, years 1 to 9999, no leap second)
const DATE_TIME = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?(Z|[+-]([0-9]{2}):([0-9]{2}))$/;

function dateTimeProblem(value) {
  const match = DATE_TIME.exec(value);
  if (!match) return `${JSON.stringify(value.slice(0, 80))} is not RFC 3339 with a time zone`;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  if (match[8] !== "Z" && (Number(match[9]) > 23 || Number(match[10]) > 59)) return `${JSON.stringify(value)} has no such time-zone offset`;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  const real = year >= 1 && days !== undefined && day >= 1 && day <= days && hour <= 23 && minute <= 59 && second <= 59;
  return real ? null : `${JSON.stringify(value)} is not a real moment`;
}

export class SchemaError extends Error {}

const patterns = new Map();
const compiled = (pattern) => {
  if (!patterns.has(pattern)) patterns.set(pattern, new RegExp(pattern, "u"));
  return patterns.get(pattern);
};

function isType(value, name) {
  switch (name) {
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return Number.isInteger(value);
    default:
      throw new SchemaError(`unknown type ${JSON.stringify(name)}`);
  }
}

function typeName(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const where = (path) => path || "document";
const join = (path, name) => (path ? `${path}.${name}` : String(name));

function check(value, schema, root, path, found) {
  const unknown = Object.keys(schema).filter((key) => !KEYWORDS.has(key));
  if (unknown.length) throw new SchemaError(`schema at ${where(path)} uses unsupported keyword(s) ${unknown}`);
  if ("$ref" in schema) {
    if (!schema.$ref.startsWith("#/$defs/")) throw new SchemaError(`only local references are supported, not ${schema.$ref}`);
    check(value, root.$defs[schema.$ref.slice("#/$defs/".length)], root, path, found);
  }
  for (const part of schema.allOf || []) check(value, part, root, path, found);
  if ("if" in schema && problems(value, schema.if, root).length === 0) {
    check(value, schema.then || {}, root, path, found);
  }
  if ("type" in schema) {
    const names = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!names.some((name) => isType(value, name))) {
      found.push([where(path), `must be ${names.join(" or ")}, not ${typeName(value)}`]);
      return;
    }
  }
  if ("const" in schema && !same(value, schema.const)) {
    found.push([where(path), `must be ${JSON.stringify(schema.const)}, not ${JSON.stringify(value)}`]);
  }
  if ("enum" in schema && !schema.enum.some((option) => same(option, value))) {
    found.push([where(path), `must be one of ${JSON.stringify(schema.enum)}, not ${JSON.stringify(value)}`]);
  }
  if (typeof value === "string") {
    const length = [...value].length; // code points, as Python counts them
    if (length < (schema.minLength ?? 0)) found.push([where(path), `must be at least ${schema.minLength} character(s)`]);
    if ("maxLength" in schema && length > schema.maxLength) found.push([where(path), `must be at most ${schema.maxLength} characters`]);
    if (schema.format === "date-time") {
      const problem = dateTimeProblem(value);
      if (problem) found.push([where(path), problem]);
    } else if ("format" in schema) {
      throw new SchemaError(`unsupported format ${schema.format}`);
    }
    if ("pattern" in schema && !compiled(schema.pattern).test(value)) {
      found.push([where(path), `${JSON.stringify(value.slice(0, 80))} does not match ${schema.pattern}`]);
    }
  } else if (typeof value === "number") {
    if ("minimum" in schema && value < schema.minimum) found.push([where(path), `must be >= ${schema.minimum}, not ${value}`]);
    if ("exclusiveMinimum" in schema && value <= schema.exclusiveMinimum) {
      found.push([where(path), `must be > ${schema.exclusiveMinimum}, not ${value}`]);
    }
    if ("maximum" in schema && value > schema.maximum) found.push([where(path), `must be <= ${schema.maximum}, not ${value}`]);
    if ("exclusiveMaximum" in schema && value >= schema.exclusiveMaximum) {
      found.push([where(path), `must be < ${schema.exclusiveMaximum}, not ${value}`]);
    }
  } else if (Array.isArray(value)) {
    if (value.length < (schema.minItems ?? 0)) found.push([where(path), `needs at least ${schema.minItems} item(s)`]);
    if ("maxItems" in schema && value.length > schema.maxItems) found.push([where(path), `holds more than ${schema.maxItems} items`]);
    if ("items" in schema) value.forEach((item, index) => check(item, schema.items, root, join(path, index), found));
  } else if (value !== null && typeof value === "object") {
    const properties = schema.properties || {};
    for (const name of schema.required || []) {
      if (!(name in value)) found.push([join(path, name), "is required"]);
    }
    const extra = schema.additionalProperties ?? true;
    for (const [name, item] of Object.entries(value)) {
      if (name in properties) check(item, properties[name], root, join(path, name), found);
      else if (extra === false) found.push([join(path, name), UNKNOWN_FIELD]);
      else if (typeof extra === "object") check(item, extra, root, join(path, name), found);
    }
  }
}

/** Every way ``value`` breaks ``schema``, as [field path, message]; empty when it is valid. */
export function problems(value, schema, root = schema) {
  const found = [];
  check(value, schema, root, "", found);
  return found;
}

const UNKNOWN_FIELD = "is not a field of this document";

const versionParts = (version) =>
  typeof version === "string" && /^[0-9]+\.[0-9]+\.[0-9]+$/.test(version) ? version.split(".").map(Number) : null;

function older(version, than) {
  const [a, b] = [versionParts(version), versionParts(than)];
  if (!a || !b) return false; // a malformed version is the field check's to name
  for (let i = 0; i < 3; i += 1) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/** Why this page must not use ``manifest`` (null: it may): an unknown schema, a newer client
 *  needed, or a known field that breaks the schema. The same rule as edgeline_contract's client_refusal. */
export function clientRefusal(manifest, schema, clientVersion = PAGE_VERSION) {
  if (manifest === null || typeof manifest !== "object" || Array.isArray(manifest)) return "the manifest is not a JSON object";
  const known = schema.properties.schema.const;
  if (manifest.schema !== known) return `the manifest's schema ${JSON.stringify(manifest.schema)} is not one this page reads (${known})`;
  if (older(clientVersion, manifest.min_client_version)) {
    return `${manifest.model} v${manifest.version} needs client version ${manifest.min_client_version} or newer; this page is ${clientVersion}`;
  }
  // a field this page does not know is a newer platform's optional addition: ignored
  const found = problems(manifest, schema).filter(([, message]) => message !== UNKNOWN_FIELD);
  if (found.length) {
    const more = found.length > 1 ? ` (and ${found.length - 1} more)` : "";
    return `the manifest breaks ${known}: ${found[0][0]} ${found[0][1]}${more}`;
  }
  return null;
}

/** The contract's schemas, fetched once (from the service worker's shell when offline). */
let loading = null;
export function loadContract(base = new URL("./contract/", import.meta.url)) {
  const load = async (name) => {
    const response = await fetch(new URL(name, base));
    if (!response.ok) throw new Error(`the contract's ${name} could not be loaded: HTTP ${response.status}`);
    return response.json();
  };
  loading ??= Promise.all([load("manifest.schema.json"), load("telemetry-event.schema.json")]).then(([manifest, event]) => ({
    manifest,
    event,
    telemetrySchema: event.properties.schema.const,
  }));
  return loading;
}
