import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workerTuningOptions, workflowCodeFor, writeWorkflowBundle } from '../../src/temporal/worker.js';
import { historyFromCliJson } from '../support/history-json.js';

const HISTORIES = fileURLToPath(new URL('../workflows/histories/', import.meta.url));

describe('worker tuning', () => {
  it('passes only the options that were set, in the SDK words', () => {
    expect(workerTuningOptions({})).toEqual({});
    expect(workerTuningOptions({ maxCachedWorkflows: 2000, workflowTaskSlots: 80, activityTaskSlots: 200, localActivitySlots: 200, workflowPollers: 20, activityPollers: 8 })).toEqual({
      maxCachedWorkflows: 2000,
      maxConcurrentWorkflowTaskExecutions: 80,
      maxConcurrentActivityTaskExecutions: 200,
      maxConcurrentLocalActivityExecutions: 200,
      maxConcurrentWorkflowTaskPolls: 20,
      maxConcurrentActivityTaskPolls: 8,
    });
  });
});

describe('the pre-built workflow bundle', () => {
  it('refuses to start on a WORKFLOW_BUNDLE path with no file, rather than bundling something else', async () => {
    await expect(workflowCodeFor({ bundlePath: '/nonexistent/workflow-bundle.js' })).rejects.toThrow(/WORKFLOW_BUNDLE/);
  });

  it('is loaded from its file and replays recorded generation and deposit histories', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-bundle-')), 'workflow-bundle.js');
    try {
      await writeWorkflowBundle(file);
      const code = await workflowCodeFor({ bundlePath: file });
      expect(code).toEqual({ workflowBundle: { codePath: file } });
      for (const name of ['generation-image-delivered', 'generation-video-delivered', 'deposit-card-paid-webhook']) {
        const history = historyFromCliJson(JSON.parse(fs.readFileSync(`${HISTORIES}${name}.json`, 'utf8')));
        await Worker.runReplayHistory(code, history, name);
      }
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
