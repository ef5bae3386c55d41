/** Terraform state documents with real resources and outputs, for history and diff tests. */
export interface Shape {
  readonly resources?: Record<string, Record<string, unknown>>;
  readonly outputs?: Record<string, { value: unknown; sensitive?: boolean }>;
  readonly lineage?: string;
}

export const LINEAGE = 'c0ffee00-0000-4000-8000-0000000000aa';

/** `resources` maps "type.name" to the attributes of its single instance. */
export const terraformState = (serial: number, shape: Shape = {}): Buffer =>
  Buffer.from(
    `${JSON.stringify(
      {
        version: 4,
        terraform_version: '1.9.8',
        serial,
        lineage: shape.lineage ?? LINEAGE,
        outputs: Object.fromEntries(
          Object.entries(shape.outputs ?? {}).map(([name, o]) => [name, { value: o.value, type: 'string', ...(o.sensitive ? { sensitive: true } : {}) }]),
        ),
        resources: Object.entries(shape.resources ?? {}).map(([address, attributes]) => {
          const [type, name] = address.split('.');
          return {
            mode: 'managed',
            type,
            name,
            provider: 'provider["registry.terraform.io/hashicorp/null"]',
            instances: [{ schema_version: 0, attributes, sensitive_attributes: [] }],
          };
        }),
        check_results: null,
      },
      null,
      2,
    )}\n`,
  );
