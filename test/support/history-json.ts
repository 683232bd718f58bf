/**
 * Reads a history exported as proto3 JSON (`temporal workflow show --output json`) into the SDK's
 * History type. Not the SDK's own `historyFromJSON`: in this dependency tree @temporalio/common and
 * @temporalio/proto each get their own copy of protobufjs 8 (the top level holds gRPC's protobufjs
 * 7), so that function's protojson rejects the proto package's types ("type must be a Type"). The
 * protojson of the copy that built those types reads them.
 */
import { createRequire } from 'node:module';
import type * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root.js';

type History = proto.temporal.api.history.v1.History;
interface ProtoJson {
  fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): unknown;
}

const require = createRequire(import.meta.url);
const fromProto = createRequire(require.resolve('@temporalio/proto'));
const { fromJson } = fromProto('protobufjs/ext/protojson') as ProtoJson;
const historyType = (patchProtobufRoot(require('@temporalio/proto')) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');

export function historyFromCliJson(json: unknown): History {
  const history = fromJson(historyType, json, { ignoreUnknownFields: true });
  if (!history) throw new TypeError('not a workflow history');
  return history as History;
}
