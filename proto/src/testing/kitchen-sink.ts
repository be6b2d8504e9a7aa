import {
  create,
  createFileRegistry,
  type DescEnum,
  type DescFile,
  type DescMessage,
  type MessageInitShape,
} from '@bufbuild/protobuf';
import {
  type FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from '@bufbuild/protobuf/wkt';

/**
 * Test-only schemas built in code (no .proto, nothing generated): every scalar type, map key type,
 * well-known type, oneof member kind and a recursive field in proto3 (`Kitchen`), and a proto2
 * message with a closed enum (`Legacy`). Aviary's own messages use only part of protobuf; these
 * make sure `compileJsonShape` agrees with `fromJson` on the rest too.
 */
type FieldInit = MessageInitShape<typeof FieldDescriptorProtoSchema>;

const imports: Record<string, DescFile> = {
  'google/protobuf/any.proto': file_google_protobuf_any,
  'google/protobuf/duration.proto': file_google_protobuf_duration,
  'google/protobuf/empty.proto': file_google_protobuf_empty,
  'google/protobuf/field_mask.proto': file_google_protobuf_field_mask,
  'google/protobuf/struct.proto': file_google_protobuf_struct,
  'google/protobuf/timestamp.proto': file_google_protobuf_timestamp,
  'google/protobuf/wrappers.proto': file_google_protobuf_wrappers,
};

const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function field(
  name: string,
  number: number,
  type: Type,
  options: { typeName?: string; repeated?: boolean; oneofIndex?: number; jsonName?: string } = {},
): FieldInit {
  return {
    name,
    number,
    type,
    label: options.repeated ? Label.REPEATED : Label.OPTIONAL,
    jsonName: options.jsonName ?? camel(name),
    ...(options.typeName === undefined ? {} : { typeName: options.typeName }),
    ...(options.oneofIndex === undefined ? {} : { oneofIndex: options.oneofIndex }),
  };
}

const msg = (name: string) => ({
  typeName: name.startsWith('.') ? name : `.aviary.test.v1.${name}`,
});
const wkt = (name: string) => ({ typeName: `.google.protobuf.${name}` });

/** A map field and its entry type. */
function mapField(
  name: string,
  number: number,
  key: Type,
  value: Type,
  valueTypeName?: string,
): { field: FieldInit; entry: MessageInitShape<typeof FileDescriptorProtoSchema>['messageType'] } {
  const entryName = `${camel(`_${name}`)}Entry`;
  return {
    field: field(name, number, Type.MESSAGE, { ...msg(`Kitchen.${entryName}`), repeated: true }),
    entry: [
      {
        name: entryName,
        field: [
          field('key', 1, key),
          field('value', 2, value, valueTypeName === undefined ? {} : { typeName: valueTypeName }),
        ],
        options: { mapEntry: true },
      },
    ],
  };
}

const maps = [
  mapField('m_int32', 24, Type.INT32, Type.STRING),
  mapField('m_int64', 25, Type.INT64, Type.INT32),
  mapField('m_bool', 26, Type.BOOL, Type.ENUM, '.aviary.test.v1.Color'),
  mapField('m_uint32', 27, Type.UINT32, Type.MESSAGE, '.aviary.test.v1.Kitchen'),
  mapField('m_string', 28, Type.STRING, Type.MESSAGE, '.google.protobuf.Value'),
  mapField('m_sint64', 29, Type.SINT64, Type.BYTES),
  mapField('m_fixed32', 30, Type.FIXED32, Type.MESSAGE, '.google.protobuf.Int32Value'),
];

const kitchenFile = create(FileDescriptorProtoSchema, {
  name: 'aviary/test/v1/kitchen.proto',
  package: 'aviary.test.v1',
  syntax: 'proto3',
  dependency: Object.keys(imports),
  enumType: [
    {
      name: 'Color',
      value: [
        { name: 'COLOR_UNSPECIFIED', number: 0 },
        { name: 'COLOR_RED', number: 1 },
        { name: 'COLOR_GREEN', number: 2 },
      ],
    },
  ],
  messageType: [
    {
      name: 'Kitchen',
      oneofDecl: [{ name: 'choice' }, { name: 'other' }],
      nestedType: maps.flatMap((m) => m.entry ?? []),
      field: [
        field('f_double', 1, Type.DOUBLE),
        field('f_float', 2, Type.FLOAT),
        field('f_int64', 3, Type.INT64),
        field('f_uint64', 4, Type.UINT64),
        field('f_int32', 5, Type.INT32),
        field('f_fixed64', 6, Type.FIXED64),
        field('f_fixed32', 7, Type.FIXED32),
        field('f_bool', 8, Type.BOOL),
        field('f_string', 9, Type.STRING),
        field('f_bytes', 10, Type.BYTES),
        field('f_uint32', 11, Type.UINT32),
        field('f_sfixed32', 12, Type.SFIXED32),
        field('f_sfixed64', 13, Type.SFIXED64),
        field('f_sint32', 14, Type.SINT32),
        field('f_sint64', 15, Type.SINT64),
        field('f_enum', 16, Type.ENUM, msg('Color')),
        field('r_int32', 17, Type.INT32, { repeated: true }),
        field('r_string', 18, Type.STRING, { repeated: true }),
        field('r_enum', 19, Type.ENUM, { ...msg('Color'), repeated: true }),
        field('r_bytes', 20, Type.BYTES, { repeated: true }),
        field('r_child', 21, Type.MESSAGE, { ...msg('Kitchen'), repeated: true }),
        field('r_double', 22, Type.DOUBLE, { repeated: true }),
        field('r_uint64', 23, Type.UINT64, { repeated: true }),
        ...maps.map((m) => m.field),
        field('child', 31, Type.MESSAGE, msg('Kitchen')),
        field('ts', 32, Type.MESSAGE, wkt('Timestamp')),
        field('dur', 33, Type.MESSAGE, wkt('Duration')),
        field('mask', 34, Type.MESSAGE, wkt('FieldMask')),
        field('value', 35, Type.MESSAGE, wkt('Value')),
        field('list', 36, Type.MESSAGE, wkt('ListValue')),
        field('struct', 37, Type.MESSAGE, wkt('Struct')),
        field('null_value', 38, Type.ENUM, wkt('NullValue')),
        field('any', 39, Type.MESSAGE, wkt('Any')),
        field('empty', 40, Type.MESSAGE, wkt('Empty')),
        field('w_double', 41, Type.MESSAGE, wkt('DoubleValue')),
        field('w_int64', 42, Type.MESSAGE, wkt('Int64Value')),
        field('w_string', 43, Type.MESSAGE, wkt('StringValue')),
        field('w_bytes', 44, Type.MESSAGE, wkt('BytesValue')),
        field('w_bool', 45, Type.MESSAGE, wkt('BoolValue')),
        field('w_uint32', 46, Type.MESSAGE, wkt('UInt32Value')),
        field('w_float', 47, Type.MESSAGE, wkt('FloatValue')),
        field('o_string', 50, Type.STRING, { oneofIndex: 0 }),
        field('o_enum', 51, Type.ENUM, { ...msg('Color'), oneofIndex: 0 }),
        field('o_child', 52, Type.MESSAGE, { ...msg('Kitchen'), oneofIndex: 0 }),
        field('o_int32', 53, Type.INT32, { oneofIndex: 0 }),
        field('o_ts', 54, Type.MESSAGE, { ...wkt('Timestamp'), oneofIndex: 0 }),
        field('o2_bool', 55, Type.BOOL, { oneofIndex: 1 }),
        field('o2_value', 56, Type.MESSAGE, { ...wkt('Value'), oneofIndex: 1 }),
        field('r_value', 57, Type.MESSAGE, { ...wkt('Value'), repeated: true }),
        field('r_null', 58, Type.ENUM, { ...wkt('NullValue'), repeated: true }),
        field('r_wrapper', 59, Type.MESSAGE, { ...wkt('Int32Value'), repeated: true }),
        field('custom', 60, Type.STRING, { jsonName: 'renamedField' }),
      ],
    },
  ],
});

const legacyFile = create(FileDescriptorProtoSchema, {
  name: 'aviary/test/v1/legacy.proto',
  package: 'aviary.test.v1',
  syntax: 'proto2',
  enumType: [
    {
      name: 'Shade',
      value: [
        { name: 'SHADE_DARK', number: 1 },
        { name: 'SHADE_LIGHT', number: 2 },
      ],
    },
  ],
  messageType: [
    {
      name: 'Legacy',
      nestedType: [
        {
          name: 'ByNameEntry',
          field: [field('key', 1, Type.STRING), field('value', 2, Type.ENUM, msg('Shade'))],
          options: { mapEntry: true },
        },
      ],
      field: [
        field('shade', 1, Type.ENUM, msg('Shade')),
        field('shades', 2, Type.ENUM, { ...msg('Shade'), repeated: true }),
        field('by_name', 3, Type.MESSAGE, { ...msg('Legacy.ByNameEntry'), repeated: true }),
        field('num', 4, Type.INT32),
      ],
    },
  ],
});

const kitchenRegistry = createFileRegistry(kitchenFile, (name) => imports[name]);
const legacyRegistry = createFileRegistry(legacyFile, () => undefined);

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`test schema ${what} is missing`);
  return value;
}

export const KitchenSchema: DescMessage = need(
  kitchenRegistry.getMessage('aviary.test.v1.Kitchen'),
  'Kitchen',
);
export const LegacySchema: DescMessage = need(
  legacyRegistry.getMessage('aviary.test.v1.Legacy'),
  'Legacy',
);
export const ShadeEnum: DescEnum = need(legacyRegistry.getEnum('aviary.test.v1.Shade'), 'Shade');
