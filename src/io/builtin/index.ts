/** The built-in tool set, registered un-namespaced (`read_file`, `shell`, …). */
import type { AnyTool } from '../tool.js';
import { calculatorTool } from './calculator.js';
import { editFileTool, listDirTool, readFileTool, writeFileTool } from './fs.js';
import { httpFetchTool } from './http.js';
import { searchTool } from './search.js';
import { shellTool } from './shell.js';
import {
  finalAnswerTool,
  kvGetTool,
  kvSetTool,
  memorySearchTool,
  memoryStoreTool,
  recallTool,
  receiveMessagesTool,
  sendMessageTool,
  spawnAgentTool,
  waitTool,
} from './sys.js';

export function builtinTools(): AnyTool[] {
  return [
    readFileTool,
    writeFileTool,
    editFileTool,
    listDirTool,
    searchTool,
    shellTool,
    httpFetchTool,
    calculatorTool,
    memoryStoreTool,
    memorySearchTool,
    recallTool,
    spawnAgentTool,
    sendMessageTool,
    receiveMessagesTool,
    waitTool,
    kvGetTool,
    kvSetTool,
    finalAnswerTool,
  ] as AnyTool[];
}

export {
  calculatorTool,
  editFileTool,
  finalAnswerTool,
  httpFetchTool,
  kvGetTool,
  kvSetTool,
  listDirTool,
  memorySearchTool,
  memoryStoreTool,
  readFileTool,
  receiveMessagesTool,
  recallTool,
  searchTool,
  sendMessageTool,
  shellTool,
  spawnAgentTool,
  waitTool,
  writeFileTool,
};
