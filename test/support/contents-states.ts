/** A Terraform-like state with what the contents index reads: count and for_each instances, modules, a data source, outputs. */
export const richState = (serial: number, extra: { bucket?: string } = {}): Buffer =>
  Buffer.from(
    `${JSON.stringify(
      {
        version: 4,
        terraform_version: '1.9.8',
        serial,
        lineage: 'c0ffee00-0000-4000-8000-00000000c0de',
        outputs: {
          bucket: { value: extra.bucket ?? 'logs-bucket', type: 'string' },
          password: { value: 'hunter2', type: 'string', sensitive: true },
          ids: { value: ['i-0abc', 'i-0def'], type: ['tuple', ['string', 'string']] },
        },
        resources: [
          {
            mode: 'data',
            type: 'aws_caller_identity',
            name: 'current',
            provider: 'provider["registry.terraform.io/hashicorp/aws"]',
            instances: [{ schema_version: 0, attributes: { id: '123456789012', account_id: '123456789012' }, sensitive_attributes: [] }],
          },
          {
            mode: 'managed',
            type: 'aws_s3_bucket',
            name: 'logs',
            provider: 'provider["registry.terraform.io/hashicorp/aws"]',
            instances: [{ schema_version: 0, attributes: { id: extra.bucket ?? 'logs-bucket', tags: { a: 'b' }, policy: '{"Version":"2012-10-17"}' }, sensitive_attributes: [] }],
          },
          {
            mode: 'managed',
            type: 'aws_instance',
            name: 'web',
            provider: 'provider["registry.terraform.io/hashicorp/aws"]',
            instances: [
              { index_key: 0, schema_version: 1, attributes: { id: 'i-0abc', ami: 'ami-1' }, sensitive_attributes: [] },
              { index_key: 1, schema_version: 1, attributes: { id: 'i-0def', ami: 'ami-1' }, sensitive_attributes: [] },
            ],
          },
          {
            module: 'module.network["eu"]',
            mode: 'managed',
            type: 'aws_subnet',
            name: 'private',
            provider: 'module.network.provider["registry.terraform.io/hashicorp/aws"].eu',
            instances: [
              { index_key: 'a', schema_version: 1, attributes: { id: 'subnet-a', cidr: '10.0.1.0/24' }, sensitive_attributes: [], dependencies: ['aws_vpc.main'] },
              { index_key: 'b "quoted"', schema_version: 1, attributes: { id: 'subnet-b', cidr: '10.0.2.0/24' }, sensitive_attributes: [] },
            ],
          },
          {
            mode: 'managed',
            type: 'terraform_data',
            name: 'none',
            provider: 'provider["terraform.io/builtin/terraform"]',
            instances: [],
          },
        ],
        check_results: null,
      },
      null,
      2,
    )}\n`,
  );

/** The instances richState holds, as the index keeps them (in document order). */
export const richInstances = (bucket = 'logs-bucket') => [
  { address: 'data.aws_caller_identity.current', resourceAddress: 'data.aws_caller_identity.current', mode: 'data', type: 'aws_caller_identity', name: 'current', module: '', provider: 'provider["registry.terraform.io/hashicorp/aws"]', indexKey: null, id: '123456789012' },
  { address: 'aws_s3_bucket.logs', resourceAddress: 'aws_s3_bucket.logs', mode: 'managed', type: 'aws_s3_bucket', name: 'logs', module: '', provider: 'provider["registry.terraform.io/hashicorp/aws"]', indexKey: null, id: bucket },
  { address: 'aws_instance.web[0]', resourceAddress: 'aws_instance.web', mode: 'managed', type: 'aws_instance', name: 'web', module: '', provider: 'provider["registry.terraform.io/hashicorp/aws"]', indexKey: 0, id: 'i-0abc' },
  { address: 'aws_instance.web[1]', resourceAddress: 'aws_instance.web', mode: 'managed', type: 'aws_instance', name: 'web', module: '', provider: 'provider["registry.terraform.io/hashicorp/aws"]', indexKey: 1, id: 'i-0def' },
  { address: 'module.network["eu"].aws_subnet.private["a"]', resourceAddress: 'module.network["eu"].aws_subnet.private', mode: 'managed', type: 'aws_subnet', name: 'private', module: 'module.network["eu"]', provider: 'module.network.provider["registry.terraform.io/hashicorp/aws"].eu', indexKey: 'a', id: 'subnet-a' },
  { address: 'module.network["eu"].aws_subnet.private["b \\"quoted\\""]', resourceAddress: 'module.network["eu"].aws_subnet.private', mode: 'managed', type: 'aws_subnet', name: 'private', module: 'module.network["eu"]', provider: 'module.network.provider["registry.terraform.io/hashicorp/aws"].eu', indexKey: 'b "quoted"', id: 'subnet-b' },
];

export const richOutputs = [
  { name: 'bucket', type: 'string', sensitive: false },
  { name: 'password', type: 'string', sensitive: true },
  { name: 'ids', type: ['tuple', ['string', 'string']], sensitive: false },
];
