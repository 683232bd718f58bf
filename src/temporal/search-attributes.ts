import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes ops filter by in the Temporal Web UI. Declared once here and
 * imported by workflows (for upserts) and by the launcher (to register them on the server).
 */
export const AccountIdAttr = defineSearchAttributeKey('CheapaAccountId', SearchAttributeType.KEYWORD);
export const ModelAttr = defineSearchAttributeKey('CheapaModel', SearchAttributeType.KEYWORD);
export const KindAttr = defineSearchAttributeKey('CheapaKind', SearchAttributeType.KEYWORD);
export const StatusAttr = defineSearchAttributeKey('CheapaStatus', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [AccountIdAttr, ModelAttr, KindAttr, StatusAttr] as const;
