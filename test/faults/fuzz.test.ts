import { describe, expect, it } from 'vitest';
import { junitFindings } from '../../faults/fuzz.js';

// The shape schemathesis 4 writes with `--report junit`: passing operations are self-closing.
const REPORT = `<?xml version="1.0" encoding="utf-8"?>
<testsuites errors="0" failures="1" skipped="0" tests="3" time="1.0">
  <testsuite name="schemathesis" errors="0" failures="1" skipped="0" tests="3" time="1.0">
    <testcase name="POST /console/api/links/redeem" time="7.7" />
    <testcase name="POST /v1/keys" time="1.6" />
    <testcase name="POST /v1/messages/count_tokens" time="0.5">
      <failure type="failure" message="ST108">1. Test Case ID: wbfZF0

- ST108 Response violates schema

    &quot;code&quot; is a required property

    Validated against the \`default\` response schema (status code 401).</failure>
    </testcase>
  </testsuite>
</testsuites>`;

describe('schemathesis JUnit findings', () => {
  // The first parser let a self-closing <testcase/> swallow the next failing one, and reported the
  // failure under the passing operation before it (POST /console/api/links/redeem).
  it('names the operation that failed, not the passing one before it, with what broke', () => {
    const { operations, failures } = junitFindings(REPORT);
    expect(operations).toBe(3);
    expect(failures).toEqual([{ operation: 'POST /v1/messages/count_tokens', message: 'ST108 Response violates schema: "code" is a required property' }]);
  });

  it('finds nothing in a report where every operation passed', () => {
    expect(junitFindings('<testsuites><testsuite><testcase name="GET /v1/models" time="1" /></testsuite></testsuites>')).toEqual({ operations: 1, failures: [] });
  });
});
