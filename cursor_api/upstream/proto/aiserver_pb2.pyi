from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UnifiedMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNIFIED_MODE_UNSPECIFIED: _ClassVar[UnifiedMode]
    UNIFIED_MODE_CHAT: _ClassVar[UnifiedMode]
    UNIFIED_MODE_AGENT: _ClassVar[UnifiedMode]
    UNIFIED_MODE_EDIT: _ClassVar[UnifiedMode]
    UNIFIED_MODE_CUSTOM: _ClassVar[UnifiedMode]
UNIFIED_MODE_UNSPECIFIED: UnifiedMode
UNIFIED_MODE_CHAT: UnifiedMode
UNIFIED_MODE_AGENT: UnifiedMode
UNIFIED_MODE_EDIT: UnifiedMode
UNIFIED_MODE_CUSTOM: UnifiedMode

class Dimension(_message.Message):
    __slots__ = ("width", "height")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ImageProto(_message.Message):
    __slots__ = ("data", "dimension")
    DATA_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    dimension: Dimension
    def __init__(self, data: _Optional[bytes] = ..., dimension: _Optional[_Union[Dimension, _Mapping]] = ...) -> None: ...

class ConversationMessage(_message.Message):
    __slots__ = ("text", "type", "images", "bubble_id", "is_capability_iteration", "is_agentic", "server_bubble_id", "thinking", "unified_mode")
    class MessageType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MESSAGE_TYPE_UNSPECIFIED: _ClassVar[ConversationMessage.MessageType]
        MESSAGE_TYPE_HUMAN: _ClassVar[ConversationMessage.MessageType]
        MESSAGE_TYPE_AI: _ClassVar[ConversationMessage.MessageType]
    MESSAGE_TYPE_UNSPECIFIED: ConversationMessage.MessageType
    MESSAGE_TYPE_HUMAN: ConversationMessage.MessageType
    MESSAGE_TYPE_AI: ConversationMessage.MessageType
    class Thinking(_message.Message):
        __slots__ = ("text", "signature", "redacted_thinking", "is_last_thinking_chunk")
        TEXT_FIELD_NUMBER: _ClassVar[int]
        SIGNATURE_FIELD_NUMBER: _ClassVar[int]
        REDACTED_THINKING_FIELD_NUMBER: _ClassVar[int]
        IS_LAST_THINKING_CHUNK_FIELD_NUMBER: _ClassVar[int]
        text: str
        signature: str
        redacted_thinking: str
        is_last_thinking_chunk: bool
        def __init__(self, text: _Optional[str] = ..., signature: _Optional[str] = ..., redacted_thinking: _Optional[str] = ..., is_last_thinking_chunk: _Optional[bool] = ...) -> None: ...
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    BUBBLE_ID_FIELD_NUMBER: _ClassVar[int]
    IS_CAPABILITY_ITERATION_FIELD_NUMBER: _ClassVar[int]
    IS_AGENTIC_FIELD_NUMBER: _ClassVar[int]
    SERVER_BUBBLE_ID_FIELD_NUMBER: _ClassVar[int]
    THINKING_FIELD_NUMBER: _ClassVar[int]
    UNIFIED_MODE_FIELD_NUMBER: _ClassVar[int]
    text: str
    type: ConversationMessage.MessageType
    images: _containers.RepeatedCompositeFieldContainer[ImageProto]
    bubble_id: str
    is_capability_iteration: bool
    is_agentic: bool
    server_bubble_id: str
    thinking: ConversationMessage.Thinking
    unified_mode: UnifiedMode
    def __init__(self, text: _Optional[str] = ..., type: _Optional[_Union[ConversationMessage.MessageType, str]] = ..., images: _Optional[_Iterable[_Union[ImageProto, _Mapping]]] = ..., bubble_id: _Optional[str] = ..., is_capability_iteration: _Optional[bool] = ..., is_agentic: _Optional[bool] = ..., server_bubble_id: _Optional[str] = ..., thinking: _Optional[_Union[ConversationMessage.Thinking, _Mapping]] = ..., unified_mode: _Optional[_Union[UnifiedMode, str]] = ...) -> None: ...

class ExplicitContext(_message.Message):
    __slots__ = ("context", "repo_context")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    REPO_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    context: str
    repo_context: str
    def __init__(self, context: _Optional[str] = ..., repo_context: _Optional[str] = ...) -> None: ...

class AzureState(_message.Message):
    __slots__ = ("api_key", "base_url", "deployment", "use_azure")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    USE_AZURE_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    base_url: str
    deployment: str
    use_azure: bool
    def __init__(self, api_key: _Optional[str] = ..., base_url: _Optional[str] = ..., deployment: _Optional[str] = ..., use_azure: _Optional[bool] = ...) -> None: ...

class ModelDetails(_message.Message):
    __slots__ = ("model_name", "api_key", "enable_ghost_mode", "azure_state", "enable_slow_pool", "openai_api_base_url", "max_mode")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    ENABLE_GHOST_MODE_FIELD_NUMBER: _ClassVar[int]
    AZURE_STATE_FIELD_NUMBER: _ClassVar[int]
    ENABLE_SLOW_POOL_FIELD_NUMBER: _ClassVar[int]
    OPENAI_API_BASE_URL_FIELD_NUMBER: _ClassVar[int]
    MAX_MODE_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    api_key: str
    enable_ghost_mode: bool
    azure_state: AzureState
    enable_slow_pool: bool
    openai_api_base_url: str
    max_mode: bool
    def __init__(self, model_name: _Optional[str] = ..., api_key: _Optional[str] = ..., enable_ghost_mode: _Optional[bool] = ..., azure_state: _Optional[_Union[AzureState, _Mapping]] = ..., enable_slow_pool: _Optional[bool] = ..., openai_api_base_url: _Optional[str] = ..., max_mode: _Optional[bool] = ...) -> None: ...

class WebReference(_message.Message):
    __slots__ = ("url", "title")
    URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    url: str
    title: str
    def __init__(self, url: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class WebCitation(_message.Message):
    __slots__ = ("references",)
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    references: _containers.RepeatedCompositeFieldContainer[WebReference]
    def __init__(self, references: _Optional[_Iterable[_Union[WebReference, _Mapping]]] = ...) -> None: ...

class StatusUpdate(_message.Message):
    __slots__ = ("message", "metadata")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    message: str
    metadata: str
    def __init__(self, message: _Optional[str] = ..., metadata: _Optional[str] = ...) -> None: ...

class StatusUpdates(_message.Message):
    __slots__ = ("updates",)
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[StatusUpdate]
    def __init__(self, updates: _Optional[_Iterable[_Union[StatusUpdate, _Mapping]]] = ...) -> None: ...

class GetChatRequest(_message.Message):
    __slots__ = ("conversation", "explicit_context", "workspace_root_path", "model_details", "request_id", "allow_long_file_scan", "is_bash", "conversation_id", "can_handle_filenames_after_language_ids", "long_context_mode", "is_eval", "desired_max_tokens", "runnable_code_blocks", "should_cache")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ROOT_PATH_FIELD_NUMBER: _ClassVar[int]
    MODEL_DETAILS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LONG_FILE_SCAN_FIELD_NUMBER: _ClassVar[int]
    IS_BASH_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CAN_HANDLE_FILENAMES_AFTER_LANGUAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    LONG_CONTEXT_MODE_FIELD_NUMBER: _ClassVar[int]
    IS_EVAL_FIELD_NUMBER: _ClassVar[int]
    DESIRED_MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RUNNABLE_CODE_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SHOULD_CACHE_FIELD_NUMBER: _ClassVar[int]
    conversation: _containers.RepeatedCompositeFieldContainer[ConversationMessage]
    explicit_context: ExplicitContext
    workspace_root_path: str
    model_details: ModelDetails
    request_id: str
    allow_long_file_scan: bool
    is_bash: bool
    conversation_id: str
    can_handle_filenames_after_language_ids: bool
    long_context_mode: bool
    is_eval: bool
    desired_max_tokens: int
    runnable_code_blocks: bool
    should_cache: bool
    def __init__(self, conversation: _Optional[_Iterable[_Union[ConversationMessage, _Mapping]]] = ..., explicit_context: _Optional[_Union[ExplicitContext, _Mapping]] = ..., workspace_root_path: _Optional[str] = ..., model_details: _Optional[_Union[ModelDetails, _Mapping]] = ..., request_id: _Optional[str] = ..., allow_long_file_scan: _Optional[bool] = ..., is_bash: _Optional[bool] = ..., conversation_id: _Optional[str] = ..., can_handle_filenames_after_language_ids: _Optional[bool] = ..., long_context_mode: _Optional[bool] = ..., is_eval: _Optional[bool] = ..., desired_max_tokens: _Optional[int] = ..., runnable_code_blocks: _Optional[bool] = ..., should_cache: _Optional[bool] = ...) -> None: ...

class StreamChatResponse(_message.Message):
    __slots__ = ("text", "debugging_only_chat_prompt", "debugging_only_token_count", "filled_prompt", "is_big_file", "intermediate_text", "is_using_slow_request", "web_citation", "status_updates", "server_bubble_id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DEBUGGING_ONLY_CHAT_PROMPT_FIELD_NUMBER: _ClassVar[int]
    DEBUGGING_ONLY_TOKEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    FILLED_PROMPT_FIELD_NUMBER: _ClassVar[int]
    IS_BIG_FILE_FIELD_NUMBER: _ClassVar[int]
    INTERMEDIATE_TEXT_FIELD_NUMBER: _ClassVar[int]
    IS_USING_SLOW_REQUEST_FIELD_NUMBER: _ClassVar[int]
    WEB_CITATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_UPDATES_FIELD_NUMBER: _ClassVar[int]
    SERVER_BUBBLE_ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    debugging_only_chat_prompt: str
    debugging_only_token_count: int
    filled_prompt: str
    is_big_file: bool
    intermediate_text: str
    is_using_slow_request: bool
    web_citation: WebCitation
    status_updates: StatusUpdates
    server_bubble_id: str
    def __init__(self, text: _Optional[str] = ..., debugging_only_chat_prompt: _Optional[str] = ..., debugging_only_token_count: _Optional[int] = ..., filled_prompt: _Optional[str] = ..., is_big_file: _Optional[bool] = ..., intermediate_text: _Optional[str] = ..., is_using_slow_request: _Optional[bool] = ..., web_citation: _Optional[_Union[WebCitation, _Mapping]] = ..., status_updates: _Optional[_Union[StatusUpdates, _Mapping]] = ..., server_bubble_id: _Optional[str] = ...) -> None: ...

class EnvironmentInfo(_message.Message):
    __slots__ = ("exthost_platform", "exthost_arch", "exthost_release", "exthost_shell", "local_timestamp", "workspace_uris")
    EXTHOST_PLATFORM_FIELD_NUMBER: _ClassVar[int]
    EXTHOST_ARCH_FIELD_NUMBER: _ClassVar[int]
    EXTHOST_RELEASE_FIELD_NUMBER: _ClassVar[int]
    EXTHOST_SHELL_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_URIS_FIELD_NUMBER: _ClassVar[int]
    exthost_platform: str
    exthost_arch: str
    exthost_release: str
    exthost_shell: str
    local_timestamp: str
    workspace_uris: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, exthost_platform: _Optional[str] = ..., exthost_arch: _Optional[str] = ..., exthost_release: _Optional[str] = ..., exthost_shell: _Optional[str] = ..., local_timestamp: _Optional[str] = ..., workspace_uris: _Optional[_Iterable[str]] = ...) -> None: ...

class ConversationHeader(_message.Message):
    __slots__ = ("bubble_id", "server_bubble_id", "type")
    BUBBLE_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_BUBBLE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    bubble_id: str
    server_bubble_id: str
    type: ConversationMessage.MessageType
    def __init__(self, bubble_id: _Optional[str] = ..., server_bubble_id: _Optional[str] = ..., type: _Optional[_Union[ConversationMessage.MessageType, str]] = ...) -> None: ...

class StreamUnifiedChatRequest(_message.Message):
    __slots__ = ("conversation", "explicit_context", "model_details", "use_web", "should_cache", "is_chat", "conversation_id", "environment_info", "is_agentic", "full_conversation_headers_only", "allow_model_fallbacks", "unified_mode", "should_disable_tools", "thinking_level", "unified_mode_name")
    class ThinkingLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        THINKING_LEVEL_UNSPECIFIED: _ClassVar[StreamUnifiedChatRequest.ThinkingLevel]
        THINKING_LEVEL_MEDIUM: _ClassVar[StreamUnifiedChatRequest.ThinkingLevel]
        THINKING_LEVEL_HIGH: _ClassVar[StreamUnifiedChatRequest.ThinkingLevel]
    THINKING_LEVEL_UNSPECIFIED: StreamUnifiedChatRequest.ThinkingLevel
    THINKING_LEVEL_MEDIUM: StreamUnifiedChatRequest.ThinkingLevel
    THINKING_LEVEL_HIGH: StreamUnifiedChatRequest.ThinkingLevel
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_DETAILS_FIELD_NUMBER: _ClassVar[int]
    USE_WEB_FIELD_NUMBER: _ClassVar[int]
    SHOULD_CACHE_FIELD_NUMBER: _ClassVar[int]
    IS_CHAT_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_INFO_FIELD_NUMBER: _ClassVar[int]
    IS_AGENTIC_FIELD_NUMBER: _ClassVar[int]
    FULL_CONVERSATION_HEADERS_ONLY_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MODEL_FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    UNIFIED_MODE_FIELD_NUMBER: _ClassVar[int]
    SHOULD_DISABLE_TOOLS_FIELD_NUMBER: _ClassVar[int]
    THINKING_LEVEL_FIELD_NUMBER: _ClassVar[int]
    UNIFIED_MODE_NAME_FIELD_NUMBER: _ClassVar[int]
    conversation: _containers.RepeatedCompositeFieldContainer[ConversationMessage]
    explicit_context: ExplicitContext
    model_details: ModelDetails
    use_web: str
    should_cache: bool
    is_chat: bool
    conversation_id: str
    environment_info: EnvironmentInfo
    is_agentic: bool
    full_conversation_headers_only: _containers.RepeatedCompositeFieldContainer[ConversationHeader]
    allow_model_fallbacks: bool
    unified_mode: UnifiedMode
    should_disable_tools: bool
    thinking_level: StreamUnifiedChatRequest.ThinkingLevel
    unified_mode_name: str
    def __init__(self, conversation: _Optional[_Iterable[_Union[ConversationMessage, _Mapping]]] = ..., explicit_context: _Optional[_Union[ExplicitContext, _Mapping]] = ..., model_details: _Optional[_Union[ModelDetails, _Mapping]] = ..., use_web: _Optional[str] = ..., should_cache: _Optional[bool] = ..., is_chat: _Optional[bool] = ..., conversation_id: _Optional[str] = ..., environment_info: _Optional[_Union[EnvironmentInfo, _Mapping]] = ..., is_agentic: _Optional[bool] = ..., full_conversation_headers_only: _Optional[_Iterable[_Union[ConversationHeader, _Mapping]]] = ..., allow_model_fallbacks: _Optional[bool] = ..., unified_mode: _Optional[_Union[UnifiedMode, str]] = ..., should_disable_tools: _Optional[bool] = ..., thinking_level: _Optional[_Union[StreamUnifiedChatRequest.ThinkingLevel, str]] = ..., unified_mode_name: _Optional[str] = ...) -> None: ...

class StreamUnifiedChatRequestWithTools(_message.Message):
    __slots__ = ("stream_unified_chat_request", "client_side_tool_v2_result")
    STREAM_UNIFIED_CHAT_REQUEST_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SIDE_TOOL_V2_RESULT_FIELD_NUMBER: _ClassVar[int]
    stream_unified_chat_request: StreamUnifiedChatRequest
    client_side_tool_v2_result: bytes
    def __init__(self, stream_unified_chat_request: _Optional[_Union[StreamUnifiedChatRequest, _Mapping]] = ..., client_side_tool_v2_result: _Optional[bytes] = ...) -> None: ...

class StreamUnifiedChatResponse(_message.Message):
    __slots__ = ("text", "filled_prompt", "web_citation", "thinking")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FILLED_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WEB_CITATION_FIELD_NUMBER: _ClassVar[int]
    THINKING_FIELD_NUMBER: _ClassVar[int]
    text: str
    filled_prompt: str
    web_citation: WebCitation
    thinking: ConversationMessage.Thinking
    def __init__(self, text: _Optional[str] = ..., filled_prompt: _Optional[str] = ..., web_citation: _Optional[_Union[WebCitation, _Mapping]] = ..., thinking: _Optional[_Union[ConversationMessage.Thinking, _Mapping]] = ...) -> None: ...

class StreamStart(_message.Message):
    __slots__ = ("padding",)
    PADDING_FIELD_NUMBER: _ClassVar[int]
    padding: str
    def __init__(self, padding: _Optional[str] = ...) -> None: ...

class StreamUnifiedChatResponseWithTools(_message.Message):
    __slots__ = ("client_side_tool_v2_call", "stream_unified_chat_response", "stream_start")
    CLIENT_SIDE_TOOL_V2_CALL_FIELD_NUMBER: _ClassVar[int]
    STREAM_UNIFIED_CHAT_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    STREAM_START_FIELD_NUMBER: _ClassVar[int]
    client_side_tool_v2_call: bytes
    stream_unified_chat_response: StreamUnifiedChatResponse
    stream_start: StreamStart
    def __init__(self, client_side_tool_v2_call: _Optional[bytes] = ..., stream_unified_chat_response: _Optional[_Union[StreamUnifiedChatResponse, _Mapping]] = ..., stream_start: _Optional[_Union[StreamStart, _Mapping]] = ...) -> None: ...

class AvailableModelsRequest(_message.Message):
    __slots__ = ("is_nightly", "include_long_context_models", "exclude_max_named_models", "additional_model_names")
    IS_NIGHTLY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_LONG_CONTEXT_MODELS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_MAX_NAMED_MODELS_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_MODEL_NAMES_FIELD_NUMBER: _ClassVar[int]
    is_nightly: bool
    include_long_context_models: bool
    exclude_max_named_models: bool
    additional_model_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, is_nightly: _Optional[bool] = ..., include_long_context_models: _Optional[bool] = ..., exclude_max_named_models: _Optional[bool] = ..., additional_model_names: _Optional[_Iterable[str]] = ...) -> None: ...

class AvailableModel(_message.Message):
    __slots__ = ("name", "default_on", "is_long_context_only", "is_chat_only", "supports_agent", "supports_thinking", "supports_images", "supports_max_mode")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ON_FIELD_NUMBER: _ClassVar[int]
    IS_LONG_CONTEXT_ONLY_FIELD_NUMBER: _ClassVar[int]
    IS_CHAT_ONLY_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_AGENT_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_THINKING_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_IMAGES_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_MAX_MODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    default_on: bool
    is_long_context_only: bool
    is_chat_only: bool
    supports_agent: bool
    supports_thinking: bool
    supports_images: bool
    supports_max_mode: bool
    def __init__(self, name: _Optional[str] = ..., default_on: _Optional[bool] = ..., is_long_context_only: _Optional[bool] = ..., is_chat_only: _Optional[bool] = ..., supports_agent: _Optional[bool] = ..., supports_thinking: _Optional[bool] = ..., supports_images: _Optional[bool] = ..., supports_max_mode: _Optional[bool] = ...) -> None: ...

class AvailableModelsResponse(_message.Message):
    __slots__ = ("model_names", "models")
    MODEL_NAMES_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    model_names: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedCompositeFieldContainer[AvailableModel]
    def __init__(self, model_names: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[_Union[AvailableModel, _Mapping]]] = ...) -> None: ...

class BidiRequestId(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class BidiAppendRequest(_message.Message):
    __slots__ = ("data", "request_id", "append_seqno", "data_binary")
    DATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPEND_SEQNO_FIELD_NUMBER: _ClassVar[int]
    DATA_BINARY_FIELD_NUMBER: _ClassVar[int]
    data: str
    request_id: BidiRequestId
    append_seqno: int
    data_binary: bytes
    def __init__(self, data: _Optional[str] = ..., request_id: _Optional[_Union[BidiRequestId, _Mapping]] = ..., append_seqno: _Optional[int] = ..., data_binary: _Optional[bytes] = ...) -> None: ...

class BidiAppendResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CustomErrorDetails(_message.Message):
    __slots__ = ("title", "detail", "is_retryable")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    IS_RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    title: str
    detail: str
    is_retryable: bool
    def __init__(self, title: _Optional[str] = ..., detail: _Optional[str] = ..., is_retryable: _Optional[bool] = ...) -> None: ...

class ErrorDetails(_message.Message):
    __slots__ = ("error", "details", "is_expected")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    IS_EXPECTED_FIELD_NUMBER: _ClassVar[int]
    error: int
    details: CustomErrorDetails
    is_expected: bool
    def __init__(self, error: _Optional[int] = ..., details: _Optional[_Union[CustomErrorDetails, _Mapping]] = ..., is_expected: _Optional[bool] = ...) -> None: ...
