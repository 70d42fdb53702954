// Pure rendering of a batch of nft operations: the libnftables JSON document (what berth applies),
// and the same batch in nft's native syntax (only for what this nft's JSON parser cannot say:
// before nftables 1.1.0, JSON cannot declare a map whose data is a concatenation). One module per
// job: the checks both share (render-checks.ts), JSON (render-json.ts), text (render-text.ts).
export { declaresConcatDataMap, natMapsOf, needsTextSyntax, type RenderedCommand } from './render-checks.js';
export { renderNftJson, renderNftJsonCommands, type Json, type NftJsonDocument } from './render-json.js';
export { renderNftText, renderNftTextCommands } from './render-text.js';
