import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { patchProtobufRoot } from '@temporalio/common/lib/protobufs.js';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../src/temporal/worker.js';

// Histories of generationWorkflow recorded on the real dev server (test/workflows/histories/record-generation-histories.ts).
// A generation in flight during a deploy is resumed by the new code replaying its history: each one must
// replay without a non-determinism error, so a change to the command sequence goes behind patched().
const DIR = fileURLToPath(new URL('./histories/', import.meta.url));
// The SDK's historyFromJSON fails in this install ("type must be a Type": @temporalio/common and
// @temporalio/proto each carry their own protobufjs), so the JSON is read with the proto package's own copy.
const require = createRequire(import.meta.url);
const protojson = createRequire(require.resolve('@temporalio/proto'))('protobufjs/ext/protojson');
const HistoryType = patchProtobufRoot(require('@temporalio/proto')).lookupType('temporal.api.history.v1.History');
const readHistory = (file: string) => protojson.fromJson(HistoryType, JSON.parse(fs.readFileSync(DIR + file, 'utf8')), { ignoreUnknownFields: true });

const CASES = fs.readdirSync(DIR).filter((f) => f.startsWith('generation-') && f.endsWith('.json')).sort();

describe('generationWorkflow replays the histories of runs started by earlier code', () => {
  let bundle: WorkflowBundle;
  beforeAll(async () => {
    bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } });
  });

  it('has a recorded history for every branch', () => {
    expect(CASES.map((f) => f.replace(/^generation-|\.json$/g, ''))).toEqual([
      'cancelled-before-hold',
      'image-delivered',
      'image-one-task-delivered',
      'image-one-task-partial',
      'image-one-task-provider-error',
      'image-one-task-timeout',
      'image-partial',
      'image-provider-error',
      'image-refused',
      'image-timeout',
      'insufficient-funds',
      'video-cancelled',
      'video-delivered',
      'video-refused',
      'video-timeout',
    ]);
  });

  it('holds image histories of both versions: pictures as activities, and as local activities in one workflow task', () => {
    const types = (file: string) => (JSON.parse(fs.readFileSync(DIR + file, 'utf8')).events as { eventType: string }[]).map((e) => e.eventType);
    expect(types('generation-image-delivered.json')).toContain('EVENT_TYPE_ACTIVITY_TASK_SCHEDULED');
    const oneTask = types('generation-image-one-task-delivered.json');
    expect(oneTask).not.toContain('EVENT_TYPE_ACTIVITY_TASK_SCHEDULED');
    expect(oneTask.filter((t) => t === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED')).toHaveLength(1);
  });

  it.each(CASES)('replays %s', async (file) => {
    const history = readHistory(file);
    const results = Worker.runReplayHistories({ workflowBundle: bundle }, [{ workflowId: file.replace(/\.json$/, ''), history }]);
    for await (const result of results) expect(result.error).toBeUndefined();
  });
});
