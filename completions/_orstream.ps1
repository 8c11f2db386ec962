
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'orstream' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'orstream'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'orstream' {
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Add a system message before the user message')
            [CompletionResult]::new('--system', '--system', [CompletionResultType]::ParameterName, 'Add a system message before the user message')
            [CompletionResult]::new('--request', '--request', [CompletionResultType]::ParameterName, 'A whole JSON request body in OpenAI chat format (- = stdin); flags override its fields')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Add a file to the message: image, PDF, audio, video or text, told by its first bytes; an http(s) URL is sent by URL; - = stdin (repeatable)')
            [CompletionResult]::new('--attach', '--attach', [CompletionResultType]::ParameterName, 'Add a file to the message: image, PDF, audio, video or text, told by its first bytes; an http(s) URL is sent by URL; - = stdin (repeatable)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Keep the conversation in FILE (a --request body): the prompt is appended, the answer saved on success')
            [CompletionResult]::new('--chat', '--chat', [CompletionResultType]::ParameterName, 'Keep the conversation in FILE (a --request body): the prompt is appended, the answer saved on success')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Model id; a comma-separated list sends the rest as fallbacks [env: OPENROUTER_MODEL] [default: openrouter/auto on openrouter.ai, none elsewhere]')
            [CompletionResult]::new('--model', '--model', [CompletionResultType]::ParameterName, 'Model id; a comma-separated list sends the rest as fallbacks [env: OPENROUTER_MODEL] [default: openrouter/auto on openrouter.ai, none elsewhere]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Sampling temperature')
            [CompletionResult]::new('--temperature', '--temperature', [CompletionResultType]::ParameterName, 'Sampling temperature')
            [CompletionResult]::new('--max-tokens', '--max-tokens', [CompletionResultType]::ParameterName, 'Maximum number of tokens to generate')
            [CompletionResult]::new('--top-p', '--top-p', [CompletionResultType]::ParameterName, 'Nucleus sampling probability mass, from 0 to 1')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed for deterministic sampling, where supported (any whole number)')
            [CompletionResult]::new('--stop', '--stop', [CompletionResultType]::ParameterName, 'Stop sequence (repeatable; always sent as an array)')
            [CompletionResult]::new('--reasoning-effort', '--reasoning-effort', [CompletionResultType]::ParameterName, 'Reasoning effort: sent as "reasoning": {"effort": LEVEL} to openrouter.ai, as "reasoning_effort": LEVEL to other servers; none turns reasoning off')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Set any top-level body field; VALUE is JSON when it parses, else a string (repeatable)')
            [CompletionResult]::new('--option', '--option', [CompletionResultType]::ParameterName, 'Set any top-level body field; VALUE is JSON when it parses, else a string (repeatable)')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Add or replace a request header, ''Name: value''; ''Name:'' removes it (repeatable)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Add or replace a request header, ''Name: value''; ''Name:'' removes it (repeatable)')
            [CompletionResult]::new('--base-url', '--base-url', [CompletionResultType]::ParameterName, 'Base URL of the API, up to /v1 or the like [env: OPENROUTER_BASE_URL] [default: https://openrouter.ai/api/v1]')
            [CompletionResult]::new('--api-key-file', '--api-key-file', [CompletionResultType]::ParameterName, 'Read the API key from the first line of this file (instead of OPENROUTER_API_KEY)')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Seconds allowed for TCP connect, proxy and TLS handshake')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Seconds without any byte from the server (keep-alives count), or taken by it while a body is sent, before giving up; no total limit')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries on connection failures, 408, 429, 500, 502, 503 and 504, never once output began; waits 0.5 s doubling (give or take 25%), or Retry-After, at most 60 s')
            [CompletionResult]::new('--schema', '--schema', [CompletionResultType]::ParameterName, 'Ask for JSON matching SCHEMA: inline JSON Schema, a file, or ''name, age int, bio: a short bio''; exit 8 if the answer is not such JSON')
            [CompletionResult]::new('--schema-multi', '--schema-multi', [CompletionResultType]::ParameterName, 'Like --schema, for a list: the answer is {"items": [...]}')
            [CompletionResult]::new('--images', '--images', [CompletionResultType]::ParameterName, 'Save the answer''s images into DIR as image-N.EXT (never overwriting), and ask the model for images ("modalities": ["image", "text"])')
            [CompletionResult]::new('--each', '--each', [CompletionResultType]::ParameterName, 'Run the prompt once per line of FILE (- = stdin), the line as if piped on stdin; one --result object per line on stdout, in line order')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'With --each: how many items are in flight at once (1 to 64)')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'With --each: how many items are in flight at once (1 to 64)')
            [CompletionResult]::new('--max-cost', '--max-cost', [CompletionResultType]::ParameterName, 'With --each: start no further item once the finished items cost USD dollars in all')
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'With --each: skip the lines whose result in RESULTS (an earlier --each output) had exit 0')
            [CompletionResult]::new('--from-sse', '--from-sse', [CompletionResultType]::ParameterName, 'Replay a recorded SSE stream (- = stdin) exactly as a live one; no request is made')
            [CompletionResult]::new('--no-stdin', '--no-stdin', [CompletionResultType]::ParameterName, 'Ignore stdin entirely (for scripts that spawn orstream with a pipe that never closes)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Write each raw chunk as one JSON line (JSON Lines) instead of the text')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Do not add a final newline when the answer does not end in one')
            [CompletionResult]::new('--no-newline', '--no-newline', [CompletionResultType]::ParameterName, 'Do not add a final newline when the answer does not end in one')
            [CompletionResult]::new('--reasoning', '--reasoning', [CompletionResultType]::ParameterName, 'Write the model''s reasoning to stderr (dimmed on a terminal)')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'After the stream, print model, provider, tokens, cost and speed on stderr')
            [CompletionResult]::new('--usage', '--usage', [CompletionResultType]::ParameterName, 'After the stream, print model, provider, tokens, cost and speed on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace the request, status, generation id, provider, comments and timing on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace the request, status, generation id, provider, comments and timing on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No spinner and no warnings (errors still print)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No spinner and no warnings (errors still print)')
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'Write only the contents of the first fenced code block, as it streams; exit 8 if there is none')
            [CompletionResult]::new('--extract', '--extract', [CompletionResultType]::ParameterName, 'Write only the contents of the first fenced code block, as it streams; exit 8 if there is none')
            [CompletionResult]::new('--result', '--result', [CompletionResultType]::ParameterName, 'Write no text while streaming; at the end, one JSON object on stdout: text, finish reason, exit status, error, warnings, model, usage, sources, images, tool calls, timing')
            [CompletionResult]::new('--web', '--web', [CompletionResultType]::ParameterName, 'Let the model search the web (OpenRouter''s web_search tool); the sources are listed after the answer')
            [CompletionResult]::new('--list-models', '--list-models', [CompletionResultType]::ParameterName, 'List the model ids the server offers, sorted, one per line')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
