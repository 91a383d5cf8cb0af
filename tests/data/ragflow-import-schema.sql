-- RAGFlow's `user`, `tenant`, `user_tenant` and `api_token` tables as peewee creates them on
-- MySQL/MariaDB from api/db/db_models.py (BaseModel's four time columns included).
CREATE TABLE `user` (
  `create_time` BIGINT NULL, `create_date` DATETIME NULL, `update_time` BIGINT NULL, `update_date` DATETIME NULL,
  `id` VARCHAR(32) NOT NULL PRIMARY KEY,
  `access_token` VARCHAR(255) NULL,
  `nickname` VARCHAR(100) NOT NULL,
  `password` VARCHAR(255) NULL,
  `email` VARCHAR(255) NOT NULL,
  `avatar` TEXT NULL,
  `language` VARCHAR(32) NULL,
  `color_schema` VARCHAR(32) NULL,
  `timezone` VARCHAR(64) NULL,
  `last_login_time` DATETIME NULL,
  `is_authenticated` VARCHAR(1) NOT NULL,
  `is_active` VARCHAR(1) NOT NULL,
  `is_anonymous` VARCHAR(1) NOT NULL,
  `login_channel` VARCHAR(255) NULL,
  `status` VARCHAR(1) NULL,
  `is_superuser` BOOL NULL,
  UNIQUE KEY `user_email` (`email`),
  KEY `user_access_token` (`access_token`), KEY `user_nickname` (`nickname`), KEY `user_password` (`password`),
  KEY `user_status` (`status`), KEY `user_create_time` (`create_time`)
);
CREATE TABLE `tenant` (
  `create_time` BIGINT NULL, `create_date` DATETIME NULL, `update_time` BIGINT NULL, `update_date` DATETIME NULL,
  `id` VARCHAR(32) NOT NULL PRIMARY KEY,
  `name` VARCHAR(100) NULL,
  `public_key` VARCHAR(255) NULL,
  `llm_id` VARCHAR(128) NOT NULL,
  `tenant_llm_id` VARCHAR(32) NULL,
  `embd_id` VARCHAR(128) NOT NULL,
  `tenant_embd_id` VARCHAR(32) NULL,
  `asr_id` VARCHAR(128) NOT NULL,
  `tenant_asr_id` VARCHAR(32) NULL,
  `img2txt_id` VARCHAR(128) NOT NULL,
  `tenant_img2txt_id` VARCHAR(32) NULL,
  `rerank_id` VARCHAR(128) NOT NULL,
  `tenant_rerank_id` VARCHAR(32) NULL,
  `tts_id` VARCHAR(256) NULL,
  `tenant_tts_id` VARCHAR(32) NULL,
  `ocr_id` VARCHAR(256) NULL,
  `tenant_ocr_id` VARCHAR(32) NULL,
  `parser_ids` VARCHAR(256) NOT NULL,
  `credit` INTEGER NOT NULL,
  `status` VARCHAR(1) NULL,
  KEY `tenant_name` (`name`), KEY `tenant_status` (`status`)
);
CREATE TABLE `user_tenant` (
  `create_time` BIGINT NULL, `create_date` DATETIME NULL, `update_time` BIGINT NULL, `update_date` DATETIME NULL,
  `id` VARCHAR(32) NOT NULL PRIMARY KEY,
  `user_id` VARCHAR(32) NOT NULL,
  `tenant_id` VARCHAR(32) NOT NULL,
  `role` VARCHAR(32) NOT NULL,
  `invited_by` VARCHAR(32) NOT NULL,
  `status` VARCHAR(1) NULL,
  KEY `usertenant_user_id` (`user_id`), KEY `usertenant_tenant_id` (`tenant_id`), KEY `usertenant_role` (`role`)
);
CREATE TABLE `api_token` (
  `create_time` BIGINT NULL, `create_date` DATETIME NULL, `update_time` BIGINT NULL, `update_date` DATETIME NULL,
  `tenant_id` VARCHAR(32) NOT NULL,
  `token` VARCHAR(255) NOT NULL,
  `dialog_id` VARCHAR(32) NULL,
  `source` VARCHAR(16) NULL,
  `beta` VARCHAR(255) NULL,
  PRIMARY KEY (`tenant_id`, `token`),
  KEY `apitoken_token` (`token`), KEY `apitoken_beta` (`beta`)
);
